"""Pytest fixtures that run a real local Evervault emulator (loaded through the ``pytest11``
entry point ``evervault_local`` once the package is installed).

* ``evervault_local`` (session scope): a running emulator on a free 127.0.0.1 port with a
  fresh temporary data directory; yields :class:`LocalEvervault` with ``api_url``,
  ``app_id``, ``api_key``, ``ca_url``, ``data_dir``, ``environment`` and a configured
  ``client`` (:class:`evervault.Client`).
* ``evervault_local_client``: that ``Client``.
* ``evervault_local_options`` (session scope): the :class:`EmulatorOptions` it starts with;
  override it in a ``conftest.py`` (e.g. ``unsafe_echo_function=True``).

    def test_round_trip(evervault_local_client):
        encrypted = evervault_local_client.encrypt({"card": "4242"})
        assert evervault_local_client.decrypt(encrypted) == {"card": "4242"}

Imports happen inside the fixtures so that merely having the plugin installed costs a
test run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from evervault.local.runner import EmulatorInfo, EmulatorOptions
    from evervault.services.client import Client


@dataclass(frozen=True)
class LocalEvervault:
    """A running emulator and a client configured for its app."""

    info: EmulatorInfo
    client: Client = field(repr=False)

    @property
    def api_url(self) -> str:
        return self.info.api_url

    @property
    def app_id(self) -> str:
        return self.info.app_id

    @property
    def api_key(self) -> str:
        return self.info.api_key

    @property
    def ca_url(self) -> str:
        return self.info.ca_url

    @property
    def data_dir(self) -> str:
        return self.info.data_dir

    @property
    def environment(self) -> dict[str, str]:
        """``EV_API_URL``/``EV_CERT_HOSTNAME`` for SDKs configured through the environment."""
        return self.info.environment()


@pytest.fixture(scope="session")
def evervault_local_options() -> EmulatorOptions:
    """What the session's emulator runs; override this fixture in a ``conftest.py`` to change it.

    The default: a fresh temporary data directory (deleted afterwards) and the default
    sample Functions, none of which hands back plaintext. A suite that needs ``echo``
    says so: ``return EmulatorOptions(unsafe_echo_function=True)``.
    """
    from evervault.local.runner import EmulatorOptions

    return EmulatorOptions()


@pytest.fixture(scope="session")
def evervault_local(evervault_local_options: EmulatorOptions) -> Iterator[LocalEvervault]:
    """A local Evervault emulator for the whole test session."""
    from evervault.local.runner import BackgroundEmulator

    emulator = BackgroundEmulator(evervault_local_options)
    info = emulator.start()
    client = info.client()
    try:
        yield LocalEvervault(info=info, client=client)
    finally:
        client.close()
        emulator.stop()  # also deletes a temporary data directory and its private keys


@pytest.fixture
def evervault_local_client(evervault_local: LocalEvervault) -> Client:
    """The :class:`evervault.Client` of the session's emulator."""
    return evervault_local.client
