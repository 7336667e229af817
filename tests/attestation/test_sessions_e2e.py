"""End to end over real sockets: attested requests/urllib3/aiohttp clients vs the simulator.

Every refusal must happen before the request body leaves the client: the simulator's echo
endpoint records every request it receives, and stays empty in each failure case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from evervault.bootstrap.attestation import (
    attestable_cage_connector,
    attestable_cage_pool_manager,
    attestable_cage_session,
    attestable_enclave_connector,
    attestable_enclave_pool_manager,
    attestable_enclave_session,
    cage_aiohttp_connector,
    cage_pool_manager,
    cage_requests_session,
)
from evervault.domain.attestation import NitroTrustRoot
from evervault.domain.attestation.hosts import ENCLAVES_HOST, GA_CAGES_HOST, SEED_CAGES_HOST
from evervault.domain.errors import AttestationError
from evervault.local.enclave import EnclaveInfo, EnclaveSimulator

APP_ID = "app_0123456789ab"
NAME = "hello-enclave"
SECRET = b'{"card": "4242 4242 4242 4242"}'
ZERO = "00" * 48

ERAS: dict[str, tuple[Callable[..., Any], ...]] = {
    SEED_CAGES_HOST: (cage_requests_session, cage_pool_manager, cage_aiohttp_connector),
    GA_CAGES_HOST: (attestable_cage_session, attestable_cage_pool_manager, attestable_cage_connector),
    ENCLAVES_HOST: (
        attestable_enclave_session,
        attestable_enclave_pool_manager,
        attestable_enclave_connector,
    ),
}
CLIENTS = ["requests", "urllib3", "aiohttp"]


def post_secret(
    client: str,
    info: EnclaveInfo,
    era: str,
    attestation_data: object,
    *,
    trust_root: NitroTrustRoot | None,
    path: str = "/echo",
    url: str | None = None,
) -> bytes:
    """POST SECRET through a freshly built attested client; return the echoed body."""
    requests_factory, urllib3_factory, aiohttp_factory = ERAS[era]
    options: dict[str, Any] = {
        "app_id": APP_ID,
        "trust_root": trust_root,
        "ca_bundle": info.ca_bundle_path,
        "address_override": info.address_override,
    }
    target = (url or info.url) + path
    if client == "requests":
        with requests_factory(attestation_data, **options) as session:
            response = session.post(target, data=SECRET, timeout=30)
            return bytes(response.content)
    if client == "urllib3":
        manager = urllib3_factory(attestation_data, **options)
        try:
            return bytes(manager.request("POST", target, body=SECRET).data)
        finally:
            manager.close()
    return asyncio.run(_post_with_aiohttp(aiohttp_factory, attestation_data, options, target))


async def _post_with_aiohttp(
    factory: Callable[..., aiohttp.BaseConnector],
    attestation_data: object,
    options: dict[str, Any],
    target: str,
) -> bytes:
    connector = factory(attestation_data, **options)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(target, data=SECRET) as response,
    ):
        return await response.read()


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., tuple[EnclaveSimulator, EnclaveInfo]]]:
    started: list[EnclaveSimulator] = []

    def start(era: str = SEED_CAGES_HOST, **options: Any) -> tuple[EnclaveSimulator, EnclaveInfo]:
        simulator = EnclaveSimulator(
            name=NAME,
            app_id=APP_ID,
            host_suffix=era,
            embed_document_in_san=era == SEED_CAGES_HOST,
            **options,
        )
        started.append(simulator)
        return simulator, simulator.start()

    yield start
    for simulator in started:
        simulator.stop()


def _test_root(simulator: EnclaveSimulator) -> NitroTrustRoot:
    return NitroTrustRoot.for_testing_only(simulator.root_certificate_pem)


def _refused(
    simulator: EnclaveSimulator, client: str, info: EnclaveInfo, era: str, data: object, **kw: Any
) -> AttestationError:
    with pytest.raises(AttestationError) as caught:
        post_secret(client, info, era, data, **kw)
    assert simulator.received == [], "the request body reached the server"
    return caught.value


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("client", CLIENTS)
def test_right_pcrs_pass(simulator_factory: Any, client: str, era: str) -> None:
    simulator, info = simulator_factory(era)
    echoed = post_secret(client, info, era, {NAME: simulator.expected_pcrs}, trust_root=_test_root(simulator))
    assert echoed == SECRET
    assert [request.body for request in simulator.received] == [SECRET]


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("client", CLIENTS)
def test_wrong_pcrs_are_refused_before_sending(simulator_factory: Any, client: str, era: str) -> None:
    simulator, info = simulator_factory(era)
    wrong = {NAME: {**simulator.expected_pcrs, "pcr_8": ZERO}}
    failure = _refused(simulator, client, info, era, wrong, trust_root=_test_root(simulator))
    assert failure.kind == "pcr-mismatch"
    assert ZERO in str(failure) and simulator.expected_pcrs["pcr_8"] in str(failure)


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("client", CLIENTS)
def test_swapped_certificate_is_refused(simulator_factory: Any, client: str, era: str) -> None:
    simulator, info = simulator_factory(era, bind_to_tls_key=False)
    data = {NAME: simulator.expected_pcrs}
    failure = _refused(simulator, client, info, era, data, trust_root=_test_root(simulator))
    assert failure.kind == "user-data-mismatch"


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("client", CLIENTS)
def test_expired_chain_is_refused(simulator_factory: Any, client: str, era: str) -> None:
    now = datetime.now(timezone.utc)
    past = (now - timedelta(hours=5), now - timedelta(hours=2))
    simulator, info = simulator_factory(era, signing_validity=past)
    data = {NAME: simulator.expected_pcrs}
    failure = _refused(simulator, client, info, era, data, trust_root=_test_root(simulator))
    assert failure.kind == "expired"


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("client", CLIENTS)
def test_untrusted_root_is_refused(simulator_factory: Any, client: str, era: str) -> None:
    simulator, info = simulator_factory(era)
    data = {NAME: simulator.expected_pcrs}
    failure = _refused(simulator, client, info, era, data, trust_root=None)  # the AWS root
    assert failure.kind == "untrusted-chain"


@pytest.mark.parametrize("client", CLIENTS)
def test_unconfigured_enclave_fails_closed(simulator_factory: Any, client: str) -> None:
    simulator, info = simulator_factory()
    failure = _refused(
        simulator, client, info, SEED_CAGES_HOST, {"other": {}}, trust_root=_test_root(simulator)
    )
    assert failure.kind == "pcr-mismatch"
    assert f"no expected PCRs are configured for enclave '{NAME}'" in str(failure)


@pytest.mark.parametrize("client", CLIENTS)
def test_explicit_empty_policy_checks_document_and_binding_only(simulator_factory: Any, client: str) -> None:
    simulator, info = simulator_factory()
    echoed = post_secret(client, info, SEED_CAGES_HOST, {NAME: {}}, trust_root=_test_root(simulator))
    assert echoed == SECRET


@pytest.mark.parametrize("client", CLIENTS)
def test_roll_over_list_passes_when_one_set_matches(simulator_factory: Any, client: str) -> None:
    simulator, info = simulator_factory(ENCLAVES_HOST)
    sets = [{"pcr_0": ZERO}, simulator.expected_pcrs]
    echoed = post_secret(client, info, ENCLAVES_HOST, {NAME: sets}, trust_root=_test_root(simulator))
    assert echoed == SECRET


@pytest.mark.parametrize("client", CLIENTS)
def test_plain_http_to_an_attested_host_is_refused(simulator_factory: Any, client: str) -> None:
    simulator, info = simulator_factory()
    plain = info.url.replace("https://", "http://")
    data = {NAME: simulator.expected_pcrs}
    with pytest.raises(AttestationError):
        post_secret(client, info, SEED_CAGES_HOST, data, trust_root=_test_root(simulator), url=plain)
    assert simulator.received == []


@pytest.mark.parametrize("client", CLIENTS)
def test_hosts_outside_the_suffix_are_not_attested(simulator_factory: Any, client: str) -> None:
    _, info = simulator_factory()
    url = f"https://localhost:{info.address[1]}"
    echoed = post_secret(client, info, SEED_CAGES_HOST, {}, trust_root=None, url=url)
    assert echoed == SECRET


def test_requests_session_reuses_the_attested_connection(simulator_factory: Any) -> None:
    simulator, info = simulator_factory(ENCLAVES_HOST)
    with attestable_enclave_session(
        {NAME: simulator.expected_pcrs},
        app_id=APP_ID,
        trust_root=_test_root(simulator),
        ca_bundle=info.ca_bundle_path,
        address_override=info.address_override,
    ) as session:
        for _ in range(3):
            assert session.post(info.url + "/echo", data=SECRET).content == SECRET
    assert len(simulator.received) == 3


def test_requests_refuses_a_proxied_attested_host(
    simulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator, info = simulator_factory()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    failure = _refused(
        simulator, "requests", info, SEED_CAGES_HOST, {NAME: {}}, trust_root=_test_root(simulator)
    )
    assert "NO_PROXY" in str(failure)
