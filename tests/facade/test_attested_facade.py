"""The module-level attestation functions, end to end against the local enclave simulator.

They must use the app id given to ``evervault.init`` and the host suffixes from the
environment (``EV_CAGES_HOST`` / ``EV_ENCLAVE_HOST``), and refuse before sending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import evervault
from evervault.domain.attestation import NitroTrustRoot
from evervault.domain.attestation.hosts import ENCLAVES_HOST, GA_CAGES_HOST, SEED_CAGES_HOST
from evervault.local.enclave import EnclaveSimulator

APP_ID = "app_0123456789ab"
NAME = "facade-enclave"
SECRET = b'{"ssn": "123-45-6789"}'

FACADE: dict[str, Callable[..., Any]] = {
    SEED_CAGES_HOST: evervault.cage_requests_session,
    GA_CAGES_HOST: evervault.attestable_cage_session,
    ENCLAVES_HOST: evervault.attestable_enclave_session,
}


@pytest.fixture(autouse=True)
def _initialised(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("EV_CAGES_HOST", raising=False)
    monkeypatch.delenv("EV_ENCLAVE_HOST", raising=False)
    evervault.init(APP_ID, "facade-test-key")
    yield
    evervault.reset()


@pytest.fixture(params=list(FACADE))
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def simulator(era: str) -> Iterator[EnclaveSimulator]:
    running = EnclaveSimulator(
        name=NAME, app_id=APP_ID, host_suffix=era, embed_document_in_san=era == SEED_CAGES_HOST
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _options(simulator: EnclaveSimulator) -> dict[str, Any]:
    info = simulator.info
    return {
        "trust_root": NitroTrustRoot.for_testing_only(simulator.root_certificate_pem),
        "ca_bundle": info.ca_bundle_path,
        "address_override": info.address_override,
    }


def test_facade_session_passes_with_the_right_pcrs(simulator: EnclaveSimulator, era: str) -> None:
    with FACADE[era]({NAME: simulator.expected_pcrs}, **_options(simulator)) as session:
        response = session.post(simulator.info.url + "/echo", data=SECRET, timeout=30)
    assert response.content == SECRET


def test_facade_session_refuses_wrong_pcrs_before_sending(simulator: EnclaveSimulator, era: str) -> None:
    wrong = {NAME: {**simulator.expected_pcrs, "pcr_0": "ab" * 48}}
    with (
        FACADE[era](wrong, **_options(simulator)) as session,
        pytest.raises(evervault.AttestationError) as caught,
    ):
        session.post(simulator.info.url + "/echo", data=SECRET, timeout=30)
    assert caught.value.kind == "pcr-mismatch"
    assert simulator.received == []


@pytest.mark.parametrize(
    "published_name", [evervault.CageVerificationException, evervault.EnclaveVerificationException]
)
def test_published_exception_names_catch_attestation_failures(
    simulator: EnclaveSimulator, era: str, published_name: type[Exception]
) -> None:
    wrong = {NAME: {"pcr_8": "cd" * 48}}
    with FACADE[era](wrong, **_options(simulator)) as session, pytest.raises(published_name):
        session.post(simulator.info.url + "/echo", data=SECRET, timeout=30)
    assert simulator.received == []


def test_facade_sessions_need_init() -> None:
    evervault.reset()
    for session in FACADE.values():
        with pytest.raises(evervault.ConfigurationError, match=r"evervault\.init"):
            session({NAME: {}})


# --- fail-closed PCR policies through the module-level functions -----------------------------


@pytest.mark.parametrize("careless", [{"pcr_8": None}, [{}], [], None], ids=repr)
def test_facade_refuses_policies_that_check_nothing(
    simulator: EnclaveSimulator, era: str, careless: object
) -> None:
    with pytest.raises(evervault.InvalidPCRsError) as caught:
        FACADE[era]({NAME: careless}, **_options(simulator))
    assert caught.value.checks_nothing
    assert simulator.received == []


def test_facade_refuses_a_provider_answering_nothing(simulator: EnclaveSimulator, era: str) -> None:
    with (
        FACADE[era]({NAME: lambda: {"pcr_8": None}}, **_options(simulator)) as session,
        pytest.raises(evervault.AttestationError) as caught,
    ):
        session.post(simulator.info.url + "/echo", data=SECRET, timeout=30)
    assert caught.value.kind == "pcr-mismatch"
    assert simulator.received == []


def test_facade_unsafe_skip_pcr_checks_works_and_warns(
    simulator: EnclaveSimulator, era: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="evervault.attestation"),
        FACADE[era]({NAME: evervault.UnsafeSkipPcrChecks()}, **_options(simulator)) as session,
    ):
        response = session.post(simulator.info.url + "/echo", data=SECRET, timeout=30)
    assert response.content == SECRET
    assert [record.levelno for record in caplog.records if "PCR checks are OFF" in record.getMessage()] == [
        logging.WARNING
    ]
