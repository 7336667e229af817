"""``evervault.bootstrap.attestation``: the builders that wire the SDK's gate into the adapters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from evervault.adapters.attested_aiohttp import AttestedTCPConnector
from evervault.adapters.attested_requests import AttestedHTTPAdapter
from evervault.adapters.attested_urllib3 import AttestedPoolManager
from evervault.bootstrap import attestation
from evervault.domain.attestation.hosts import ENCLAVES, GA_CAGES, SEED_CAGES
from evervault.domain.errors import InvalidArgumentError
from evervault.services.attestation import (
    AttestationGate,
    CertificateSanDocuments,
    WellKnownDocuments,
)
from tests.attestation.support import REPO_ROOT

APP_ID = "app_0123456789ab"
GOOD = {"pcr_8": "ab" * 48}
POLLER = "evervault-pcr-provider-poller"


def pollers() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == POLLER}


def _session_gate(**options: Any) -> object:
    with attestation.attestable_enclave_session({"hello": GOOD}, app_id=APP_ID, **options) as session:
        adapter = session.get_adapter("https://hello.app-0123456789ab.enclave.evervault.com/")
        assert isinstance(adapter, AttestedHTTPAdapter)
        assert session.get_adapter("http://example.com/") is adapter, "plain http is refused, not unattested"
        return adapter.attestation_gate


def _pool_manager_gate(**options: Any) -> object:
    with attestation.cage_pool_manager({"hello": GOOD}, app_id=APP_ID, **options) as manager:
        assert isinstance(manager, AttestedPoolManager)
        return manager.attestation_gate


def _connector_gate(**options: Any) -> object:
    async def build() -> object:
        connector = attestation.attestable_cage_connector({"hello": GOOD}, app_id=APP_ID, **options)
        assert isinstance(connector, AttestedTCPConnector)
        await connector.close()
        return connector.attestation_gate

    return asyncio.run(build())


@pytest.mark.parametrize(
    ("build", "era", "source"),
    [
        (_session_gate, ENCLAVES, WellKnownDocuments),
        (_pool_manager_gate, SEED_CAGES, CertificateSanDocuments),
        (_connector_gate, GA_CAGES, WellKnownDocuments),
    ],
    ids=["requests", "urllib3", "aiohttp"],
)
def test_each_builder_wires_the_sdk_gate_of_its_era(
    build: Callable[..., object], era: Any, source: type[object]
) -> None:
    gate = build(pcr_poll_interval=7.0)
    assert isinstance(gate, AttestationGate)
    assert gate.endpoint == era.endpoint(APP_ID, None)
    assert isinstance(gate._documents, source)
    assert gate.policies._poll_interval == 7.0


def _failing_builders() -> list[Callable[[object], object]]:
    bad = {"address_override": {"hello.example": "not an (ip, port) tuple"}}

    def connector(data: object) -> object:
        async def build() -> object:
            return attestation.cage_aiohttp_connector(data, app_id=APP_ID, **bad)

        return asyncio.run(build())

    return [
        lambda data: attestation.cage_requests_session(data, app_id=APP_ID, **bad),
        lambda data: attestation.cage_pool_manager(data, app_id=APP_ID, **bad),
        connector,
    ]


@pytest.mark.parametrize("build", _failing_builders(), ids=["requests", "urllib3", "aiohttp"])
def test_a_client_that_cannot_be_built_leaves_no_poller_running(build: Callable[[object], object]) -> None:
    before = pollers()
    with pytest.raises(InvalidArgumentError, match="address_override"):
        build({"hello": lambda: GOOD})  # a provider: the gate starts a poller thread
    assert {thread for thread in pollers() - before if thread.is_alive()} == set()


def test_the_module_imports_without_requests_or_aiohttp_and_builds_urllib3_clients() -> None:
    """requests and aiohttp are optional extras: only their own builders need them."""
    program = (
        "import sys\n"
        "sys.modules['requests'] = None\n"
        "sys.modules['aiohttp'] = None\n"
        "from evervault.bootstrap import attestation\n"
        "manager = attestation.attestable_enclave_pool_manager({'hello': {}}, app_id='app_1')\n"
        "manager.close()\n"
        "try:\n"
        "    attestation.attestable_enclave_session({'hello': {}}, app_id='app_1')\n"
        "except ImportError as error:\n"
        "    print('requests missing:', error.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "requests missing: requests\n"), result.stderr


def test_the_public_attested_module_exposes_the_bootstrap_builders() -> None:
    import evervault.attested as attested
    from evervault.bootstrap import attestation as root

    assert attested.__all__
    for name in attested.__all__:
        assert getattr(attested, name) is getattr(root, name)
