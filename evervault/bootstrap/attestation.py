"""Attested session wiring (placeholder: re-exports the requests adapter's ``attested_session``)."""

from evervault.adapters.attested_requests import attested_session

__all__ = ["attested_session"]
