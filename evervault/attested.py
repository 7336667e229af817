"""Attested sessions for each HTTP library, taking ``app_id=`` (and ``host_suffix=``) themselves.

``evervault.cage_requests_session`` and its siblings read the app from ``evervault.init``; these
builders take it as an argument, and cover urllib3 and aiohttp too. They are built by the
composition root (:mod:`evervault.bootstrap.attestation`); this module is their public path.
"""

from evervault.bootstrap.attestation import (
    attestable_cage_connector,
    attestable_cage_pool_manager,
    attestable_cage_session,
    attestable_enclave_connector,
    attestable_enclave_pool_manager,
    attestable_enclave_session,
    cage_aiohttp_connector,
    cage_pool_manager,
    cage_requests_session,
)

__all__ = [
    "attestable_cage_connector",
    "attestable_cage_pool_manager",
    "attestable_cage_session",
    "attestable_enclave_connector",
    "attestable_enclave_pool_manager",
    "attestable_enclave_session",
    "cage_aiohttp_connector",
    "cage_pool_manager",
    "cage_requests_session",
]
