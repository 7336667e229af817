"""The ``evervault`` command line (entry point :func:`evervault.cli.main.main`)."""

from evervault.domain.errors import EvervaultError


class UsageError(EvervaultError):
    """A command-line argument or input file cannot be used (exit status 2)."""
