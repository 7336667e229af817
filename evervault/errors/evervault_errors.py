"""Compatibility path of the published SDK (``evervault.errors.evervault_errors``)."""

from evervault.errors import *  # noqa: F403
from evervault.errors import __all__  # noqa: F401
