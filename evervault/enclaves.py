"""Compatibility path of the published SDK (``evervault.enclaves.EnclaveVerificationException``)."""

from evervault.domain.errors import EnclaveVerificationException

__all__ = ["EnclaveVerificationException"]
