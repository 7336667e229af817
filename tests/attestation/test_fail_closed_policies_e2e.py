"""Fail-closed PCR policies over real sockets, for the requests, urllib3 and aiohttp clients.

Against an enclave simulator (whose PCRs are its own, never ``None``), every policy value that
would check nothing - static or answered by a provider - must raise a typed error before the
request leaves the client; skipping PCR checks works only through ``UnsafeSkipPcrChecks()``
(or the published SDK's static ``{}``), and every session built that way logs a warning.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from evervault.adapters.attested_requests import AttestedHTTPAdapter
from evervault.bootstrap.attestation import attestable_enclave_session
from evervault.domain.attestation import NitroTrustRoot, UnsafeSkipPcrChecks
from evervault.domain.attestation.hosts import ENCLAVES_HOST, SEED_CAGES_HOST
from evervault.domain.errors import AttestationError, EvervaultError, InvalidPCRsError
from evervault.local.enclave import EnclaveInfo, EnclaveSimulator
from tests.attestation.test_sessions_e2e import APP_ID, CLIENTS, ERAS, NAME, SECRET, ZERO, post_secret

# Per-enclave static values that check nothing. (Exactly {} is the published SDK's opt-out
# and is tested separately below.)
CARELESS_STATIC: list[object] = [
    None,
    {"pcr_8": None},  # {"pcr_8": os.environ.get("PCR8")} with the variable unset
    [],
    [{}],
    [{"pcr_8": None}],
    [{"pcr_8": ZERO}, {}],
]
# What a provider may answer that checks nothing: none of these may switch the check off.
CARELESS_ANSWERS: list[object] = [
    {},
    [],
    [{}],
    {"pcr_8": None},
    None,
    UnsafeSkipPcrChecks(),
]
OFF_WARNING = "PCR checks are OFF for enclave"


class Provider:
    """A PCR provider answering ``answer`` every time, counting its calls."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return self.answer


@pytest.fixture
def enclave() -> Iterator[tuple[EnclaveSimulator, EnclaveInfo]]:
    simulator = EnclaveSimulator(
        name=NAME, app_id=APP_ID, host_suffix=ENCLAVES_HOST, embed_document_in_san=False
    )
    with simulator as info:
        yield simulator, info


def _root(simulator: EnclaveSimulator) -> NitroTrustRoot:
    return NitroTrustRoot.for_testing_only(simulator.root_certificate_pem)


def _post(client: str, simulator: EnclaveSimulator, info: EnclaveInfo, data: object) -> bytes:
    return post_secret(client, info, ENCLAVES_HOST, data, trust_root=_root(simulator))


def _ids(values: list[object]) -> list[str]:
    return [repr(value) for value in values]


# --- static values that check nothing -------------------------------------------------------


@pytest.mark.parametrize("careless", CARELESS_STATIC, ids=_ids(CARELESS_STATIC))
@pytest.mark.parametrize("client", CLIENTS)
def test_static_values_that_check_nothing_are_refused_before_sending(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], client: str, careless: object
) -> None:
    simulator, info = enclave
    with pytest.raises(InvalidPCRsError) as caught:
        _post(client, simulator, info, {NAME: careless})
    assert isinstance(caught.value, EvervaultError) and caught.value.kind == "pcr-mismatch"
    assert caught.value.checks_nothing
    assert simulator.received == [], "the request body reached the enclave"


# --- providers answering values that check nothing -----------------------------------------


@pytest.mark.parametrize("answer", CARELESS_ANSWERS, ids=_ids(CARELESS_ANSWERS))
@pytest.mark.parametrize("client", CLIENTS)
def test_provider_answers_that_check_nothing_are_refused_before_sending(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], client: str, answer: object
) -> None:
    simulator, info = enclave
    provider = Provider(answer)
    with pytest.raises(AttestationError) as caught:
        _post(client, simulator, info, {NAME: provider})
    assert caught.value.kind == "pcr-mismatch"
    assert f"PCR provider for enclave '{NAME}'" in str(caught.value)
    assert provider.calls >= 2, "asked at construction and again when connecting"
    assert simulator.received == [], "the request body reached the enclave"


def _attempt(client: str, info: EnclaveInfo, data: object, address: tuple[str, int]) -> None:
    """One POST with short timeouts (a regression must fail, not hang) to ``address``."""
    requests_factory, urllib3_factory, aiohttp_factory = ERAS[ENCLAVES_HOST]
    options: dict[str, Any] = {
        "app_id": APP_ID,
        "ca_bundle": info.ca_bundle_path,
        "address_override": {info.hostname: address},
    }
    url = f"https://{info.hostname}:{address[1]}/echo"
    if client == "requests":
        with requests_factory(data, **options) as session:
            session.post(url, data=SECRET, timeout=5)
    elif client == "urllib3":
        manager = urllib3_factory(data, **options)
        try:
            manager.request("POST", url, body=SECRET, timeout=5, retries=False)
        finally:
            manager.close()
    else:
        asyncio.run(_attempt_with_aiohttp(aiohttp_factory, data, options, url))


async def _attempt_with_aiohttp(
    factory: Callable[..., aiohttp.BaseConnector], data: object, options: dict[str, Any], url: str
) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(connector=factory(data, **options), timeout=timeout) as session,
        session.post(url, data=SECRET),
    ):
        pass


@pytest.mark.parametrize("answer", [[], {"pcr_8": None}], ids=repr)
@pytest.mark.parametrize("client", CLIENTS)
def test_a_careless_provider_costs_not_even_a_tcp_connection(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], silent_listener: socket.socket, client: str, answer: object
) -> None:
    _, info = enclave
    with pytest.raises(AttestationError):
        _attempt(client, info, {NAME: Provider(answer)}, silent_listener.getsockname())
    with pytest.raises(BlockingIOError):
        silent_listener.accept()  # nothing connected


@pytest.mark.parametrize("answer", CARELESS_ANSWERS, ids=_ids(CARELESS_ANSWERS))
def test_a_careless_answer_after_good_ones_keeps_the_good_policy(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], answer: object
) -> None:
    simulator, info = enclave
    wrong = Provider({"pcr_8": ZERO})  # a real policy, then a careless answer: still refused
    with attestable_enclave_session(
        {NAME: wrong},
        app_id=APP_ID,
        trust_root=_root(simulator),
        ca_bundle=info.ca_bundle_path,
        address_override=info.address_override,
        pcr_poll_interval=3600,
    ) as session:
        wrong.answer = answer
        adapter = session.get_adapter(info.url)
        assert isinstance(adapter, AttestedHTTPAdapter)
        adapter.attestation_gate.policies.poll_once()  # what the background poller does
        with pytest.raises(AttestationError) as caught:
            session.post(info.url + "/echo", data=SECRET, timeout=30)
    assert caught.value.kind == "pcr-mismatch" and ZERO in str(caught.value)
    assert simulator.received == []


# --- the explicit opt-out --------------------------------------------------------------------


def _off_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "evervault.attestation"
        and record.levelno == logging.WARNING
        and OFF_WARNING in record.getMessage()
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_unsafe_skip_pcr_checks_works_and_warns_each_time(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], client: str, caplog: pytest.LogCaptureFixture
) -> None:
    simulator, info = enclave
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        for _ in range(2):
            assert _post(client, simulator, info, {NAME: UnsafeSkipPcrChecks()}) == SECRET
    warnings = _off_warnings(caplog)
    assert len(warnings) == 2, "one warning per session built"
    assert all(repr(NAME) in message and "UnsafeSkipPcrChecks()" in message for message in warnings)


@pytest.mark.parametrize("client", CLIENTS)
def test_the_published_empty_dict_opt_out_works_and_warns(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], client: str, caplog: pytest.LogCaptureFixture
) -> None:
    simulator, info = enclave
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        assert _post(client, simulator, info, {NAME: {}}) == SECRET
    [warning] = _off_warnings(caplog)
    assert "published SDK's opt-out" in warning and "UnsafeSkipPcrChecks()" in warning


@pytest.mark.parametrize("client", CLIENTS)
def test_the_opt_out_still_verifies_everything_else(client: str) -> None:
    simulator = EnclaveSimulator(name=NAME, app_id=APP_ID, bind_to_tls_key=False)
    with simulator as info, pytest.raises(AttestationError) as caught:
        post_secret(client, info, SEED_CAGES_HOST, {NAME: UnsafeSkipPcrChecks()}, trust_root=_root(simulator))
    assert caught.value.kind == "user-data-mismatch"
    assert simulator.received == []


def test_sessions_with_pcr_sets_do_not_warn(
    enclave: tuple[EnclaveSimulator, EnclaveInfo], caplog: pytest.LogCaptureFixture
) -> None:
    simulator, info = enclave
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        assert _post("urllib3", simulator, info, {NAME: simulator.expected_pcrs}) == SECRET
    assert _off_warnings(caplog) == []
