"""The module-level facade of the published SDK's README: ``evervault.init(...)`` then plain functions.

Every function delegates to one process-wide :class:`~evervault.services.client.Client`
created by :func:`init`. Code that talks to several apps, or wants no global state,
creates :class:`~evervault.Client` / :class:`~evervault.AsyncClient` objects instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from evervault.bootstrap import relay as _relay
from evervault.domain.attestation.hosts import ENCLAVES, GA_CAGES, SEED_CAGES, Era
from evervault.domain.errors import ConfigurationError, InvalidArgumentError
from evervault.domain.streaming import DEFAULT_CHUNK_SIZE
from evervault.services.client import Client
from evervault.services.file_streams import FileDestination, FileSource
from evervault.services.retry import RetryPolicy

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)

if TYPE_CHECKING:
    import requests


class Curves:
    """Curve names accepted by :func:`init` (aliases such as ``"p256"`` work too)."""

    SECP256K1 = "SECP256K1"
    SECP256R1 = "SECP256R1"


_client_lock = threading.Lock()
_client: Client | None = None


def init(
    app_id: str,
    api_key: str,
    decryption_domains: Iterable[str] | None = (),
    retry: bool | RetryPolicy = False,
    curve: str = Curves.SECP256K1,
    debug_requests: bool = False,
    enable_outbound_relay: bool = False,
    request_timeout: float = 30,
) -> None:
    """Configure the SDK for one app. Settings are validated now, not at the first call.

    URLs and limits come from the environment (``EV_API_URL`` etc., see
    :class:`~evervault.services.config.ClientConfig`). As in the published SDK, non-empty
    ``decryption_domains`` (or ``enable_outbound_relay=True``, which uses the app's relay
    configuration) turn on Outbound Relay right away.
    """
    client = Client(
        app_id,
        api_key,
        request_timeout=request_timeout,
        retry=retry,
        curve=curve,
        decryption_domains=decryption_domains or (),
        debug_requests=debug_requests,
        enable_outbound_relay=enable_outbound_relay,
    )
    global _client
    with _client_lock:
        previous, _client = _client, client
    if previous is not None:
        _relay.disable_outbound_relay(previous)
        previous.close()
    domains = list(decryption_domains or ())
    if domains or enable_outbound_relay:
        _relay.enable_outbound_relay(client, domains or None, debug_requests)


def reset() -> None:
    """Undo :func:`init`: disable its Outbound Relay, close the client, forget the configuration.

    Afterwards every function raises :class:`ConfigurationError` until :func:`init` is
    called again. Tests use it (the pytest plugin's ``evervault_facade`` fixture does) so
    that one test's ``init`` never leaks into the next.
    """
    global _client
    with _client_lock:
        previous, _client = _client, None
    if previous is not None:
        _relay.disable_outbound_relay(previous)  # only a relay this client enabled
        previous.close()


def current_client() -> Client:
    """The client :func:`init` created; :class:`ConfigurationError` before ``init``."""
    client = _client
    if client is None:
        raise ConfigurationError(
            "Evervault is not initialised: call evervault.init('<APP_ID>', '<API_KEY>') first."
        )
    return client


@overload
def encrypt(data: str | int | float, role: str | None = None) -> str: ...
@overload
def encrypt(data: bytes | bytearray, role: str | None = None) -> bytes: ...
@overload
def encrypt(data: dict[_K, Any], role: str | None = None) -> dict[_K, Any]: ...
@overload
def encrypt(data: list[Any], role: str | None = None) -> list[Any]: ...
@overload
def encrypt(data: tuple[Any, ...], role: str | None = None) -> tuple[Any, ...]: ...
@overload
def encrypt(data: set[Any], role: str | None = None) -> set[str]: ...
@overload
def encrypt(data: frozenset[Any], role: str | None = None) -> frozenset[str]: ...
@overload
def encrypt(data: object, role: str | None = None) -> Any: ...
def encrypt(data: object, role: str | None = None) -> Any:
    """Encrypt a value, a container of values, or file bytes for this app."""
    client = _client  # current_client() inlined: encrypt is a ~1 us hot path
    if client is None:
        client = current_client()  # raises ConfigurationError
    return client.encrypt(data, role)


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
# The adapters import requests at module level, so they are imported only when used.
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
    from evervault.adapters.attested_requests import attested_session

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
) -> _relay.OutboundRelay:
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
