"""Compatibility path of the published SDK: ``from evervault.cages_v2 import CageVerificationException``."""

from evervault.domain.errors import CageVerificationException

__all__ = ["CageVerificationException"]
