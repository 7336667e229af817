"""Client settings: constructor arguments first, then the published SDK's environment variables.

Variables (docs/protocol.md §7.1): ``EV_API_URL``, ``EV_TUNNEL_HOSTNAME``, ``EV_CERT_HOSTNAME``,
``EV_ENCLAVE_HOST``, ``EV_CAGES_HOST``, ``EV_MAX_FILE_SIZE_IN_MB`` and
``EV_PCR_PROVIDER_POLL_INTERVAL``. Every value is validated once, here, so a bad
setting fails at construction with a :class:`~evervault.domain.errors.ConfigurationError`
that names the setting, instead of failing later inside a request or a timer.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from evervault.domain.curves import Curve
from evervault.domain.defaults import (
    BYTES_PER_MB,
    DEFAULT_API_URL,
    DEFAULT_CAGES_HOST,
    DEFAULT_CERT_URL,
    DEFAULT_ENCLAVE_HOST,
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_FILE_SIZE_IN_MB,
    DEFAULT_PCR_POLL_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TUNNEL_URL,
)
from evervault.domain.errors import ConfigurationError
from evervault.services.retry import NO_RETRY, RetryPolicy

_T = TypeVar("_T")


@dataclass(frozen=True)
class RelaySettings:
    """What ``init``/``Client`` were told about Outbound Relay; the relay feature acts on it."""

    decryption_domains: tuple[str, ...] = ()
    debug_requests: bool = False
    enable_outbound_relay: bool = False
    tunnel_url: str = DEFAULT_TUNNEL_URL
    cert_url: str = DEFAULT_CERT_URL


@dataclass(frozen=True)
class ClientConfig:
    """Validated settings of one client. ``api_key`` is kept out of ``repr``."""

    app_id: str
    api_key: str = field(repr=False)
    curve: Curve = Curve.SECP256K1
    api_url: str = DEFAULT_API_URL
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_file_size_bytes: int = DEFAULT_MAX_FILE_SIZE
    enclave_host: str = DEFAULT_ENCLAVE_HOST
    cages_host: str = DEFAULT_CAGES_HOST
    pcr_poll_interval: float = DEFAULT_PCR_POLL_INTERVAL
    retry: RetryPolicy = NO_RETRY
    relay: RelaySettings = field(default_factory=RelaySettings)

    @classmethod
    def build(
        cls,
        app_id: str,
        api_key: str,
        *,
        curve: str | Curve = Curve.SECP256K1,
        retry: bool | RetryPolicy = False,
        request_timeout: float | None = None,
        api_url: str | None = None,
        tunnel_url: str | None = None,
        cert_url: str | None = None,
        enclave_host: str | None = None,
        cages_host: str | None = None,
        max_file_size_in_mb: int | None = None,
        pcr_poll_interval: float | None = None,
        decryption_domains: Iterable[str] = (),
        debug_requests: bool = False,
        enable_outbound_relay: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Validate arguments, falling back to ``environ`` (default ``os.environ``) then defaults."""
        setting = _EnvironmentFallback(os.environ if environ is None else environ)
        return cls(
            app_id=_app_id(app_id),
            api_key=_api_key(api_key),
            curve=_curve(curve),
            api_url=setting(_base_url, "api_url", api_url, "EV_API_URL", DEFAULT_API_URL),
            request_timeout=_positive_seconds(
                "request_timeout",
                DEFAULT_REQUEST_TIMEOUT if request_timeout is None else request_timeout,
            ),
            max_file_size_bytes=BYTES_PER_MB
            * setting(
                _megabytes,
                "max_file_size_in_mb",
                max_file_size_in_mb,
                "EV_MAX_FILE_SIZE_IN_MB",
                DEFAULT_MAX_FILE_SIZE_IN_MB,
            ),
            enclave_host=setting(
                _host_suffix, "enclave_host", enclave_host, "EV_ENCLAVE_HOST", DEFAULT_ENCLAVE_HOST
            ),
            cages_host=setting(_host_suffix, "cages_host", cages_host, "EV_CAGES_HOST", DEFAULT_CAGES_HOST),
            pcr_poll_interval=setting(
                _positive_seconds,
                "pcr_poll_interval",
                pcr_poll_interval,
                "EV_PCR_PROVIDER_POLL_INTERVAL",
                DEFAULT_PCR_POLL_INTERVAL,
            ),
            retry=_retry(retry),
            relay=RelaySettings(
                decryption_domains=_domains(decryption_domains),
                debug_requests=_flag("debug_requests", debug_requests),
                enable_outbound_relay=_flag("enable_outbound_relay", enable_outbound_relay),
                tunnel_url=setting(_url, "tunnel_url", tunnel_url, "EV_TUNNEL_HOSTNAME", DEFAULT_TUNNEL_URL),
                cert_url=setting(_url, "cert_url", cert_url, "EV_CERT_HOSTNAME", DEFAULT_CERT_URL),
            ),
        )


@dataclass(frozen=True)
class _EnvironmentFallback:
    """Resolves a setting that has both a constructor argument and an environment variable."""

    env: Mapping[str, str] = field(repr=False)  # os.environ may hold secrets

    def __call__(
        self,
        validate: Callable[[str, str | float], _T],
        argument_name: str,
        argument: str | float | None,
        variable: str,
        default: str | float,
    ) -> _T:
        """Validate the argument, else a non-empty environment variable, else the default.

        Errors name both spellings (``api_url/EV_API_URL``): either may hold the bad value.
        """
        if argument is None:
            argument = self.env.get(variable, "").strip() or default
        return validate(f"{argument_name}/{variable}", argument)


def _app_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "app_id must be your App's ID (a non-empty string like 'app_1234abcd5678'): "
            "call evervault.init('<APP_ID>', '<API_KEY>')."
        )
    return value.strip()


def _api_key(value: object) -> str:
    # The value itself is never echoed: it is a secret.
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "api_key must be your App's API key (a non-empty string): "
            "call evervault.init('<APP_ID>', '<API_KEY>')."
        )
    if any(ch in value for ch in "\r\n"):
        raise ConfigurationError("api_key contains a line break; copy the key again without it.")
    return value.strip()


def _curve(value: str | Curve) -> Curve:
    if not isinstance(value, (str, Curve)):
        raise ConfigurationError(
            f"curve must be a string such as 'SECP256K1' or 'SECP256R1', not {type(value).__name__}."
        )
    return Curve.from_name(value)


def _url(name: str, value: str | float) -> str:
    text = str(value).strip()
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        hostname = None
    if not hostname or parts.scheme not in ("http", "https"):
        raise ConfigurationError(
            f"{name} must be an http(s) URL such as 'https://api.evervault.com/', got {text!r}."
        )
    return text


def _base_url(name: str, value: str | float) -> str:
    """Paths are appended to the API URL without a separator, so it must end with ``/``."""
    text = _url(name, value)
    if urlsplit(text).query or urlsplit(text).fragment:
        raise ConfigurationError(f"{name} must not contain a query or fragment, got {text!r}.")
    return text if text.endswith("/") else text + "/"


def _host_suffix(name: str, value: str | float) -> str:
    text = str(value).strip().lower()
    if not text or "/" in text or any(ch.isspace() for ch in text):
        raise ConfigurationError(
            f"{name} must be a host name such as 'enclave.evervault.com' (no scheme or path), got {text!r}."
        )
    return text


def _positive_seconds(name: str, value: str | float) -> float:
    seconds = _number(name, value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}.")
    return seconds


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number, not a bool.")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            raise ConfigurationError(f"{name} is far too large a number.") from None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigurationError(f"{name} must be a number, got {value!r}.")


def _megabytes(name: str, value: object) -> int:
    message = f"{name} must be a whole number of megabytes greater than 0"
    if isinstance(value, str) and value.isascii() and value.isdigit():
        # isascii: str.isdigit() also accepts characters such as "²" that int() refuses;
        # int() also refuses more than sys.get_int_max_str_digits() digits.
        text = value
        try:
            value = int(text)
        except ValueError:
            raise ConfigurationError(f"{message}; got {len(text)} digits.") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{message}, got {value!r}.")
    return value


def _retry(value: bool | RetryPolicy) -> RetryPolicy:
    if isinstance(value, RetryPolicy):
        return value
    if isinstance(value, bool):
        return RetryPolicy() if value else NO_RETRY
    raise ConfigurationError(f"retry must be True, False or a RetryPolicy, not {type(value).__name__}.")


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {type(value).__name__}.")
    return value


def _domains(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            "decryption_domains must be a list of host names, e.g. ['api.example.com', "
            "'*.example.org'], not a single string."
        )
    domains = tuple(value)
    for domain in domains:
        if not isinstance(domain, str) or not domain.strip():
            raise ConfigurationError(f"Every decryption domain must be a non-empty string, got {domain!r}.")
    return tuple(domain.strip() for domain in domains)


RELAY_ARGUMENTS = ("decryption_domains", "debug_requests", "enable_outbound_relay")


def warn_relay_arguments_do_nothing(class_name: str, **arguments: object) -> None:
    """Warn that ``Client``/``AsyncClient`` only record the Outbound Relay arguments.

    They were accepted for symmetry with ``init`` but never acted on (the published SDK's
    ``Client`` does not accept them at all); the relay is turned on by a call that says so.
    ``stacklevel`` points at the caller of the client's constructor.
    """
    given = [name for name in RELAY_ARGUMENTS if arguments.get(name) is not None]
    if given:
        warnings.warn(
            f"{class_name}({', '.join(f'{name}=...' for name in given)}) is deprecated and does "
            "nothing: it does not enable Outbound Relay. Call evervault.init(app_id, api_key, "
            "decryption_domains=[...]) or evervault.enable_outbound_relay(decryption_domains, "
            f"debug_requests) instead, and stop passing {', '.join(given)} to {class_name}.",
            DeprecationWarning,
            stacklevel=3,
        )


def relay_arguments(
    decryption_domains: object, debug_requests: object, enable_outbound_relay: object
) -> tuple[tuple[str, ...], bool, bool]:
    """Validate ``init``'s Outbound Relay arguments (before anything is replaced)."""
    return (
        _domains(decryption_domains),
        _flag("debug_requests", debug_requests),
        _flag("enable_outbound_relay", enable_outbound_relay),
    )
