"""Import paths of the published SDK's exceptions keep working after switching packages."""

from __future__ import annotations

import evervault


def test_published_exception_modules_name_our_attestation_error() -> None:
    from evervault.cages_v2 import CageVerificationException
    from evervault.enclaves import EnclaveVerificationException
    from evervault.errors.evervault_errors import EvervaultError, FunctionRuntimeError

    assert CageVerificationException is evervault.AttestationError
    assert EnclaveVerificationException is evervault.AttestationError
    assert EvervaultError is evervault.EvervaultError
    error = FunctionRuntimeError("boom", "stack", "func_run_1")
    assert (error.message, error.stack, error.id) == ("boom", "stack", "func_run_1")
