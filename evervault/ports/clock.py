"""The clock port (defined in the domain, which may not import ports)."""

from evervault.domain.sources import Clock

__all__ = ["Clock"]
