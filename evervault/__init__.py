"""Evervault SDK: field encryption, Functions, Outbound Relay and attested enclave sessions.

The published SDK's module-level API (``init``, ``encrypt``, ``decrypt``, ``run``,
``create_client_side_decrypt_token``, ``create_run_token``), the ``Client`` and
``AsyncClient`` classes, and every error class.
"""

from evervault.adapters.relay_urllib3 import RelayPoolManager
from evervault.api import (
    Curves,
    attestable_cage_session,
    attestable_enclave_session,
    cage_requests_session,
    create_client_side_decrypt_token,
    create_run_token,
    current_client,
    decrypt,
    disable_outbound_relay,
    enable_outbound_relay,
    encrypt,
    encrypt_file,
    init,
    reset,
    run,
)
from evervault.bootstrap.clients import AsyncClient, Client
from evervault.domain.attestation.policy import UnsafeSkipPcrChecks
from evervault.errors import *  # noqa: F403 - the error classes are public names of the package
from evervault.errors import __all__ as _error_names
from evervault.services.retry import RetryPolicy
from evervault.services.version import SDK_VERSION as __version__

__all__ = [
    "AsyncClient",
    "Client",
    "Curves",
    "RelayPoolManager",
    "RetryPolicy",
    "UnsafeSkipPcrChecks",
    "__version__",
    "attestable_cage_session",
    "attestable_enclave_session",
    "cage_requests_session",
    "create_client_side_decrypt_token",
    "create_run_token",
    "current_client",
    "decrypt",
    "disable_outbound_relay",
    "enable_outbound_relay",
    "encrypt",
    "encrypt_file",
    "init",
    "reset",
    "run",
    *_error_names,
]
