"""The process-wide client behind the module-level API: ``init``, ``reset``, ``current_client``.

:func:`init` builds one :class:`~evervault.bootstrap.clients.Client` and registers it;
:func:`reset` forgets it (and undoes the Outbound Relay it enabled), so tests start clean
through a public call instead of patching a private global. :func:`encrypt` lives here,
next to the registry, because it is the hot path: it reads the registered client from a
module global without any call in between.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, TypeVar, overload

from evervault.bootstrap import relay as _relay
from evervault.bootstrap.clients import Client
from evervault.domain.defaults import DEFAULT_CURVE_NAME, DEFAULT_REQUEST_TIMEOUT
from evervault.domain.errors import ConfigurationError
from evervault.services.config import relay_arguments
from evervault.services.retry import RetryPolicy

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)

_client_lock = threading.Lock()
_client: Client | None = None


def init(
    app_id: str,
    api_key: str,
    decryption_domains: Iterable[str] | None = (),
    retry: bool | RetryPolicy = False,
    curve: str = DEFAULT_CURVE_NAME,
    debug_requests: bool = False,
    enable_outbound_relay: bool = False,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> None:
    """Configure the SDK for one app. Settings are validated now, not at the first call.

    URLs and limits come from the environment (``EV_API_URL`` etc., see
    :class:`~evervault.services.config.ClientConfig`). As in the published SDK, non-empty
    ``decryption_domains`` (or ``enable_outbound_relay=True``, which uses the app's relay
    configuration) turn on Outbound Relay right away.
    """
    # Every argument is checked before the previous client is replaced.
    domains, debug, relay_wanted = relay_arguments(
        decryption_domains or (), debug_requests, enable_outbound_relay
    )
    client = Client(app_id, api_key, request_timeout=request_timeout, retry=retry, curve=curve)
    _register(client)
    if domains or relay_wanted:
        _relay.enable_outbound_relay(client, list(domains) or None, debug)


def reset() -> None:
    """Undo :func:`init`: disable its Outbound Relay, close the client, forget the configuration.

    Afterwards every function raises :class:`ConfigurationError` until :func:`init` is
    called again. Tests use it (the pytest plugin's ``evervault_facade`` fixture does) so
    that one test's ``init`` never leaks into the next.
    """
    _register(None)


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
    # current_client() inlined: encrypt is a ~1 us hot path.
    return (_client or current_client()).encrypt(data, role)


def _register(client: Client | None) -> None:
    """Make ``client`` the process-wide one; undo the previous one's relay and close it."""
    global _client
    with _client_lock:
        previous, _client = _client, client
    if previous is not None:
        _relay.disable_outbound_relay(previous)  # only a relay this client enabled
        previous.close()
