"""The enclave simulator: a local TLS server that attests like an AWS Nitro enclave.

It builds a throwaway Nitro-like PKI (root -> intermediates -> ES384 signing certificate),
signs a COSE_Sign1 attestation document with configurable PCRs whose ``user_data`` is the
DER SubjectPublicKeyInfo of its TLS certificate, embeds that document hex-encoded in a DNS
SAN label of the certificate (seed-era Cages) and serves it at ``/.well-known/attestation``
(GA Cages and Enclaves). Every other request is echoed and recorded, so a test can prove
that a client which refused the attestation sent nothing.

The PKI root is NOT the AWS root: clients trust it only through
``NitroTrustRoot.for_testing_only(simulator.root_certificate_pem)``.

    with EnclaveSimulator(name="hello", app_id="app_123") as info:
        session = cage_requests_session(
            {"hello": info.expected_pcrs}, app_id="app_123",
            trust_root=NitroTrustRoot.for_testing_only(info.root_certificate_pem),
            ca_bundle=info.ca_bundle_path, address_override=info.address_override)
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import ipaddress
import json
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from evervault.domain.attestation.hosts import SEED_CAGES_HOST, WELL_KNOWN_PATH
from evervault.domain.errors import ConfigurationError

_SIGNATURE_HALF = 48
_PCR_COUNT = 16  # Nitro reports PCR0..15
_SHUTDOWN_POLL_INTERVAL = 0.02  # seconds; stop() waits for serve_forever to notice


def simulated_pcrs(seed: str = "evervault-simulator") -> dict[int, bytes]:
    """Deterministic, non-zero 48-byte measurements for PCR0..15."""
    return {index: hashlib.sha384(f"{seed}/pcr{index}".encode()).digest() for index in range(_PCR_COUNT)}


def expected_pcrs_of(pcrs: Mapping[int, bytes]) -> dict[str, str]:
    """The ``{"pcr_0": hex, "pcr_1": ..., "pcr_2": ..., "pcr_8": ...}`` a client configures."""
    return {f"pcr_{index}": pcrs[index].hex() for index in (0, 1, 2, 8) if index in pcrs}


# --- the throwaway Nitro-like PKI --------------------------------------------------------


@dataclass(frozen=True)
class IssuedCertificate:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class NitroLikePki:
    """root -> intermediates -> signing certificate, all P-384/SHA-384 like AWS's."""

    root: IssuedCertificate
    intermediates: tuple[IssuedCertificate, ...]
    signing: IssuedCertificate

    @property
    def cabundle(self) -> list[bytes]:
        """Root first, then each intermediate down to the signing certificate's issuer."""
        return [self.root.der, *(issued.der for issued in self.intermediates)]


def make_nitro_like_pki(
    now: datetime,
    *,
    intermediate_count: int = 2,
    signing_validity: tuple[datetime, datetime] | None = None,
) -> NitroLikePki:
    """Issue a fresh PKI; the signing certificate is valid for 3 hours around ``now``."""
    root = issue_certificate("simulated-nitro-root", None, _years(now, 30), ca_path_length=None)
    chain = [root]
    for depth in range(intermediate_count):
        chain.append(
            issue_certificate(
                f"simulated-intermediate-{depth}",
                chain[-1],
                _days(now, 7),
                ca_path_length=intermediate_count - depth - 1,
            )
        )
    window = signing_validity or (now - timedelta(minutes=5), now + timedelta(hours=3))
    signing = issue_certificate("simulated-enclave-signing", chain[-1], window, end_entity=True)
    return NitroLikePki(root=root, intermediates=tuple(chain[1:]), signing=signing)


def _years(now: datetime, years: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=1), now + timedelta(days=365 * years)


def _days(now: datetime, days: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=1), now + timedelta(days=days)


def issue_certificate(
    common_name: str,
    issuer: IssuedCertificate | None,
    valid: tuple[datetime, datetime],
    *,
    ca_path_length: int | None = None,
    end_entity: bool = False,
) -> IssuedCertificate:
    """Issue a P-384 certificate signed by ``issuer`` (self-signed when ``None``).

    A CA (``pathLenConstraint`` = ``ca_path_length``, ``None`` for unlimited) unless
    ``end_entity`` is set.
    """
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    is_ca = not end_entity
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=ca_path_length if is_ca else None),
            critical=True,
        )
        .add_extension(_key_usage(is_ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    return IssuedCertificate(key, builder.sign(signer_key, hashes.SHA384()))


def _key_usage(is_ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not is_ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


# --- the signed document -------------------------------------------------------------------


def sign_attestation_document(
    pki: NitroLikePki,
    *,
    pcrs: Mapping[int, bytes],
    user_data: bytes | None,
    timestamp_ms: int,
    module_id: str = "i-0simulated0000000-enc0simulated00",
    nonce: bytes | None = None,
) -> bytes:
    """An untagged COSE_Sign1 over a Nitro document, signed ES384 by ``pki.signing``."""
    payload = cbor2.dumps(
        {
            "module_id": module_id,
            "digest": "SHA384",
            "timestamp": timestamp_ms,
            "pcrs": dict(pcrs),
            "certificate": pki.signing.der,
            "cabundle": pki.cabundle,
            "public_key": None,
            "user_data": user_data,
            "nonce": nonce,
        }
    )
    protected = cbor2.dumps({1: -35})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(pki.signing.key.sign(to_be_signed, ec.ECDSA(hashes.SHA384())))
    signature = r.to_bytes(_SIGNATURE_HALF, "big") + s.to_bytes(_SIGNATURE_HALF, "big")
    return bytes(cbor2.dumps([protected, {}, payload, signature]))


# --- the TLS identity ------------------------------------------------------------------------


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tls_certificate(
    tls_ca: IssuedCertificate,
    tls_key: ec.EllipticCurvePrivateKey,
    hostname: str,
    document: bytes | None,
    now: datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost")]
    if document is not None:
        names.append(x509.DNSName(f"{document.hex()}.{hostname}"))
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(tls_ca.certificate.subject)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(tls_ca.key, hashes.SHA256())
    )


# --- the server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class EnclaveInfo:
    """How to reach a running simulator and what to trust; all values are for tests only."""

    url: str
    hostname: str
    address: tuple[str, int]
    ca_bundle_path: str
    root_certificate_pem: bytes
    expected_pcrs: dict[str, str] = field(default_factory=dict)

    @property
    def address_override(self) -> dict[str, tuple[str, int]]:
        return {self.hostname: self.address}


class EnclaveSimulator:
    """A running fake enclave; use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        name: str = "hello-enclave",
        app_id: str = "app_000000000000",
        host_suffix: str = SEED_CAGES_HOST,
        pcrs: Mapping[int, bytes] | None = None,
        bind_to_tls_key: bool = True,
        signing_validity: tuple[datetime, datetime] | None = None,
        embed_document_in_san: bool = True,
        intermediate_count: int = 2,
        port: int = 0,
    ) -> None:
        now = datetime.now(timezone.utc)
        app_label = app_id if host_suffix == SEED_CAGES_HOST else app_id.replace("_", "-")
        self.hostname = f"{name}.{app_label}.{host_suffix}".lower()
        self.pcrs = dict(pcrs if pcrs is not None else simulated_pcrs())
        self.pki = make_nitro_like_pki(
            now, intermediate_count=intermediate_count, signing_validity=signing_validity
        )
        self._tls_ca = issue_certificate("simulator TLS CA", None, _years(now, 1), ca_path_length=0)
        self._tls_key = ec.generate_private_key(ec.SECP384R1())
        bound_key = self._tls_key if bind_to_tls_key else ec.generate_private_key(ec.SECP384R1())
        self.document = sign_attestation_document(
            self.pki,
            pcrs=self.pcrs,
            user_data=_spki(bound_key),
            timestamp_ms=int(now.timestamp() * 1000),
        )
        self.tls_certificate = _tls_certificate(
            self._tls_ca,
            self._tls_key,
            self.hostname,
            self.document if embed_document_in_san else None,
            now,
        )
        self.received: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: _SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._info: EnclaveInfo | None = None

    @property
    def expected_pcrs(self) -> dict[str, str]:
        """The PCR policy a client must configure to accept this simulator."""
        return expected_pcrs_of(self.pcrs)

    @property
    def root_certificate_pem(self) -> bytes:
        return self.pki.root.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def info(self) -> EnclaveInfo:
        if self._info is None:
            raise ConfigurationError("The enclave simulator is not running; call start() first.")
        return self._info

    def start(self) -> EnclaveInfo:
        """Listen on 127.0.0.1 (a free port by default) in a daemon thread."""
        if self._info is not None:
            return self._info
        self._workdir = tempfile.TemporaryDirectory(prefix="evervault-enclave-")
        context = self._server_context(self._workdir.name)
        server = _SimulatorServer(("127.0.0.1", self._port), context, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_INTERVAL},
            name="evervault-enclave-simulator",
            daemon=True,
        )
        self._thread.start()
        address = ("127.0.0.1", server.server_address[1])
        ca_path = os.path.join(self._workdir.name, "tls-ca.pem")
        self._info = EnclaveInfo(
            url=f"https://{self.hostname}:{address[1]}",
            hostname=self.hostname,
            address=address,
            ca_bundle_path=ca_path,
            root_certificate_pem=self.root_certificate_pem,
            expected_pcrs=self.expected_pcrs,
        )
        return self._info

    def stop(self) -> None:
        """Stop serving and delete the temporary key material."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self._info = None

    def __enter__(self) -> EnclaveInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.received.append(request)

    def well_known_body(self) -> bytes:
        return json.dumps({"attestation_doc": base64.b64encode(self.document).decode()}).encode()

    def _server_context(self, directory: str) -> ssl.SSLContext:
        pem = serialization.Encoding.PEM
        cert_path = os.path.join(directory, "tls-cert.pem")
        key_path = os.path.join(directory, "tls-key.pem")
        with open(os.path.join(directory, "tls-ca.pem"), "wb") as handle:
            handle.write(self._tls_ca.certificate.public_bytes(pem))
        with open(cert_path, "wb") as handle:
            handle.write(self.tls_certificate.public_bytes(pem))
        with open(key_path, "wb") as handle:
            handle.write(
                self._tls_key.private_bytes(
                    pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


class _SimulatorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], context: ssl.SSLContext, simulator: EnclaveSimulator
    ) -> None:
        super().__init__(address, _SimulatorHandler)
        self.tls_context = context
        self.simulator = simulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that refuse the attestation hang up mid-connection: that is expected.
        return


class _SimulatorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SimulatorServer
    timeout = 10

    def setup(self) -> None:
        raw: socket.socket = self.request
        raw.settimeout(self.timeout)
        self.request = self.server.tls_context.wrap_socket(raw, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == WELL_KNOWN_PATH:
            self._reply(200, self.server.simulator.well_known_body(), "application/json")
        else:
            self._echo()

    def do_POST(self) -> None:
        self._echo()

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.simulator.record(RecordedRequest(self.command, self.path, body))
        self._reply(200, body, self.headers.get("Content-Type") or "application/octet-stream")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
