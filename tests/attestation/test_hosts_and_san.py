"""Host matching and naming per era, and the seed-era SAN extraction rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evervault.domain.attestation.hosts import EnclaveEndpoint, EnclaveTarget
from evervault.domain.attestation.san import document_from_certificate, has_embedded_document
from evervault.domain.errors import AttestationError
from tests.attestation.conftest import NOW


@pytest.mark.parametrize(
    ("endpoint", "host", "covered"),
    [
        (EnclaveEndpoint.seed_cages("app_1"), "hello.app_1.cages.evervault.com", True),
        (EnclaveEndpoint.seed_cages("app_1"), "HELLO.APP_1.CAGES.EVERVAULT.COM.", True),
        (EnclaveEndpoint.seed_cages("app_1"), "hello.app_1.cage.evervault.com", False),
        (EnclaveEndpoint.ga_cages("app_1"), "hello.app-1.cages.evervault.com", False),
        (EnclaveEndpoint.enclaves("app_1"), "hello.app-1.enclave.evervault.com", True),
        (EnclaveEndpoint.enclaves("app_1"), "enclave.evervault.com", False),
        (EnclaveEndpoint.enclaves("app_1"), "evil-enclave.evervault.com", False),
        (EnclaveEndpoint.enclaves("app_1"), "api.evervault.com", False),
    ],
)
def test_covers_is_a_host_suffix_match(endpoint: EnclaveEndpoint, host: str, covered: bool) -> None:
    assert endpoint.covers(host) is covered


def test_target_names_the_enclave_and_its_well_known_url() -> None:
    target = EnclaveEndpoint.enclaves("app_1").target("hello.app-1.enclave.evervault.com", 443)
    assert target == EnclaveTarget("hello", "hello.app-1.enclave.evervault.com", 443)
    assert target.well_known_url == "https://hello.app-1.enclave.evervault.com/.well-known/attestation"
    assert EnclaveTarget("h", "h.a.x", 8443).well_known_url == "https://h.a.x:8443/.well-known/attestation"


def test_nonce_form_names_the_third_label() -> None:
    endpoint = EnclaveEndpoint.seed_cages("app_1")
    target = endpoint.target("n0nce.attest.hello.app_1.cages.evervault.com", 443)
    assert target.name == "hello"


def test_app_id_spelling_with_dash_or_underscore_is_the_same_app() -> None:
    assert EnclaveEndpoint.ga_cages("app_1").target("x.app-1.cage.evervault.com", 443).name == "x"
    assert EnclaveEndpoint.ga_cages("app-1").target("x.app_1.cage.evervault.com", 443).name == "x"


@pytest.mark.parametrize(
    "host",
    [
        "hello.app_2.cages.evervault.com",  # another app
        "app_1.cages.evervault.com",  # no name
        "a.b.hello.app_1.cages.evervault.com",  # unknown shape
        ".app_1.cages.evervault.com",
    ],
)
def test_unrecognised_covered_hosts_fail_closed(host: str) -> None:
    with pytest.raises(AttestationError) as caught:
        EnclaveEndpoint.seed_cages("app_1").target(host, 443)
    assert caught.value.kind == "no-attestation-doc"


def _certificate(*dns_names: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "san")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def test_document_is_the_first_label_of_the_longest_san() -> None:
    payload = bytes(range(200))
    certificate = _certificate("short.example", f"{payload.hex()}.cage.app.cages.evervault.com")
    assert document_from_certificate(certificate) == payload
    assert has_embedded_document(certificate)


def test_no_san_means_no_document() -> None:
    for certificate in (_certificate(), _certificate("")):
        with pytest.raises(AttestationError) as caught:
            document_from_certificate(certificate)
        assert caught.value.kind == "no-attestation-doc"


@pytest.mark.parametrize("label", ["xyz" + "0" * 100, "0" * 101, "hello"])
def test_non_hex_label_is_malformed_san_hex(label: str) -> None:
    certificate = _certificate(f"{label}.app.cages.evervault.com")
    with pytest.raises(AttestationError) as caught:
        document_from_certificate(certificate)
    assert caught.value.kind == "malformed-san-hex"


def test_ordinary_certificates_have_no_embedded_document() -> None:
    assert not has_embedded_document(_certificate("hello.app-1.enclave.evervault.com"))


@pytest.mark.parametrize("suffix", ["", ".", " ", "enclave..evervault.com", "*.evervault.com"])
def test_a_host_suffix_that_is_not_a_dns_name_is_refused_instead_of_attesting_nothing(suffix: str) -> None:
    from evervault.domain.attestation.hosts import ENCLAVES
    from evervault.domain.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="host suffix"):
        ENCLAVES.endpoint("app_0123456789ab", suffix)
