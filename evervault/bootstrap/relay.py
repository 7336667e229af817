"""Outbound Relay wiring (placeholder: re-exports the relay service's install/uninstall functions)."""

from evervault.services.relay import active_relay, disable_outbound_relay, enable_outbound_relay

__all__ = ["active_relay", "disable_outbound_relay", "enable_outbound_relay"]
