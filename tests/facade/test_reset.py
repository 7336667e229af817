"""``evervault.reset()``: undoes ``init`` (and a relay the facade's client enabled)."""

from __future__ import annotations

from types import ModuleType

import pytest

import evervault
from evervault.bootstrap.relay import active_relay
from evervault.errors import ConfigurationError
from evervault.local.pytest_plugin import LocalEvervault


def test_reset_forgets_the_client_and_disables_its_relay(
    evervault_facade: ModuleType, evervault_emulator: LocalEvervault
) -> None:
    client = evervault.current_client()
    evervault.enable_outbound_relay(["api.example.com"])
    assert active_relay() is not None
    evervault.reset()
    assert active_relay() is None
    with pytest.raises(ConfigurationError, match="not initialised"):
        evervault.encrypt("4242")
    evervault.reset()  # nothing to undo: no error
    evervault.init(evervault_emulator.app_id, evervault_emulator.api_key)
    assert evervault.current_client() is not client
    assert evervault.decrypt(evervault.encrypt("again")) == "again"


def test_reset_leaves_a_relay_enabled_by_another_client_alone(evervault_emulator: LocalEvervault) -> None:
    from evervault.bootstrap import relay

    evervault.reset()
    with evervault_emulator.info.client() as other:
        relay.enable_outbound_relay(other, ["api.example.com"])
        try:
            evervault.init(evervault_emulator.app_id, evervault_emulator.api_key)
            evervault.reset()
            assert active_relay() is not None  # not the facade's: kept
        finally:
            relay.disable_outbound_relay()
    assert active_relay() is None
