"""The module-level facade of the published SDK's README: ``evervault.init(...)`` then plain functions.

Every function delegates to the one process-wide :class:`~evervault.Client` that
:func:`init` registers in :mod:`evervault.bootstrap.facade`. Code that talks to several
apps, or wants no global state, creates :class:`~evervault.Client` /
:class:`~evervault.AsyncClient` objects instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from evervault.bootstrap import relay as _relay
from evervault.bootstrap.facade import current_client as current_client
from evervault.bootstrap.facade import encrypt as encrypt
from evervault.bootstrap.facade import init as init
from evervault.bootstrap.facade import reset as reset
from evervault.domain.attestation.hosts import ENCLAVES, GA_CAGES, SEED_CAGES, Era
from evervault.domain.defaults import DEFAULT_CHUNK_SIZE
from evervault.domain.errors import InvalidArgumentError
from evervault.services.file_streams import FileDestination, FileSource

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)

if TYPE_CHECKING:
    import requests

    from evervault.services.relay import OutboundRelay


class Curves:
    """Curve names accepted by :func:`init` (aliases such as ``"p256"`` work too)."""

    SECP256K1 = "SECP256K1"
    SECP256R1 = "SECP256R1"


def encrypt_file(src: FileSource, dst: FileDestination, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Encrypt a file of any size from ``src`` to ``dst`` (paths or binary file objects), streaming.

    Same ``%EVENC`` format as ``encrypt(bytes)`` with no maximum size; returns the bytes written.
    """
    return current_client().encrypt_file(src, dst, chunk_size=chunk_size)


@overload
def decrypt(data: bytes | bytearray) -> bytes: ...
@overload
def decrypt(data: dict[_K, Any]) -> dict[_K, Any]: ...
@overload
def decrypt(data: list[Any]) -> list[Any]: ...
@overload
def decrypt(data: object) -> Any: ...  # a str holds any primitive: str, int, float, bool
def decrypt(data: object) -> Any:
    """Decrypt ``str``/``dict``/``list`` (typed JSON back) or ``bytes``/``bytearray`` (bytes back)."""
    return current_client().decrypt(data)


def run(
    function_name: str,
    data: object,
    options: Mapping[str, Any] | bool | None = None,
    *,
    run_async: bool | None = None,
) -> dict[str, Any]:
    """Run a Function: ``options={"async": bool, "version": int}`` or ``run_async=bool``."""
    return current_client().run(function_name, data, options, run_async=run_async)


_UNSET: Any = object()


def create_client_side_decrypt_token(
    data: object = _UNSET, expiry: datetime | None = None, *, payload: object = _UNSET
) -> dict[str, Any]:
    """A token letting a front end decrypt exactly ``data``; expiry at most 10 minutes ahead.

    ``payload=`` is accepted too: it is the published SDK's keyword for ``data``.
    """
    if (data is _UNSET) == (payload is _UNSET):
        raise InvalidArgumentError(
            "Pass the data the token may decrypt exactly once: as `data` (or `payload`, the "
            "published SDK's name for it)."
        )
    return current_client().create_client_side_decrypt_token(payload if data is _UNSET else data, expiry)


def create_run_token(function_name: str, data: object = None) -> dict[str, Any]:
    """A single-use token to run ``function_name`` with exactly ``data`` (default ``{}``)."""
    return current_client().create_run_token(function_name, data)


# --- attested sessions to Cages and Enclaves ---------------------------------------------
# The composition root imports requests only when a session is built.
# ``options`` are the adapter's keyword arguments (``trust_root``, ``ca_bundle``,
# ``address_override``), used by tests against the local enclave simulator.


def cage_requests_session(cage_attestation_data: object = None, **options: Any) -> requests.Session:
    """A ``requests.Session`` attesting seed-era Cages (``<cage>.<app>.cages.evervault.com``).

    ``cage_attestation_data`` maps cage names to expected PCRs (``{"my-cage": {"pcr_8": "..."}}``),
    or is a list of such dicts for roll-over; a callable value is a provider polled in the
    background. A value that would check nothing (``None``, ``[]``, ``{"pcr_8": None}``, an
    empty set in a list) raises ``InvalidPCRsError``; ``evervault.UnsafeSkipPcrChecks()`` skips
    the PCR check by name, and every session built with it logs a warning.
    """
    return _attested_session(SEED_CAGES, cage_attestation_data, None, options)


def attestable_cage_session(cage_attestation_data: object = None, **options: Any) -> requests.Session:
    """A ``requests.Session`` attesting GA Cages (host suffix ``EV_CAGES_HOST``)."""
    return _attested_session(GA_CAGES, cage_attestation_data, current_client().config.cages_host, options)


def attestable_enclave_session(enclave_attestation_data: object = None, **options: Any) -> requests.Session:
    """A ``requests.Session`` attesting Enclaves (host suffix ``EV_ENCLAVE_HOST``)."""
    return _attested_session(
        ENCLAVES, enclave_attestation_data, current_client().config.enclave_host, options
    )


def _attested_session(
    era: Era, data: object, host_suffix: str | None, options: dict[str, Any]
) -> requests.Session:
    from evervault.bootstrap.attestation import attested_session

    config = current_client().config
    return attested_session(
        era,
        data,
        app_id=config.app_id,
        host_suffix=host_suffix,
        pcr_poll_interval=config.pcr_poll_interval,
        **options,
    )


# --- Outbound Relay ---------------------------------------------------------------------


def enable_outbound_relay(
    decryption_domains: Iterable[str] | None = None,
    debug_requests: bool = False,
    client_session: Any = None,
) -> OutboundRelay:
    """Send ``https`` requests to matching domains through Outbound Relay, which decrypts them.

    With ``decryption_domains`` (exact hosts or ``*suffix`` wildcards) those are used;
    without, the app's relay configuration is fetched and kept fresh in the background.
    Applies to ``requests`` (module-level calls and every Session) and, when given, to one
    ``aiohttp.ClientSession``. :func:`disable_outbound_relay` undoes it exactly.
    """
    return _relay.enable_outbound_relay(current_client(), decryption_domains, debug_requests, client_session)


def disable_outbound_relay() -> None:
    """Restore ``requests`` (and the relayed aiohttp session) exactly; stop the config poller."""
    _relay.disable_outbound_relay()
