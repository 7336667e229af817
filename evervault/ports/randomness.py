"""Randomness ports: IV source and ephemeral key factory (defined in the domain)."""

from evervault.domain.sources import EphemeralKeyFactory, IvSource

__all__ = ["EphemeralKeyFactory", "IvSource"]
