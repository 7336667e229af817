"""Pure builders of the :class:`~evervault.ports.http.HttpRequest` of every API operation.

Paths, bodies and the auth scheme follow docs/protocol.md §7.2/§7.3. The auth scheme is
chosen per *operation* (Basic for decrypt, client-side tokens and function runs;
``Api-Key`` otherwise), not by pattern-matching the URL as the published SDK does,
so a function named e.g. ``decrypt-users`` cannot switch its run-token request to
Basic by accident.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from evervault.domain.errors import InvalidArgumentError, UnsupportedTypeError
from evervault.ports.http import Headers, HttpRequest
from evervault.services.version import USER_AGENT

JSON_CONTENT_TYPE = "application/json"
OCTET_STREAM = "application/octet-stream"
DECRYPT_ACTION = "api:decrypt"
MAX_FUNCTION_VERSION = 2**63 - 1  # a version number is sent as decimal text in x-version-id


class Auth(enum.Enum):
    BASIC = "basic"
    API_KEY = "api-key"


@dataclass(frozen=True)
class RunOptions:
    """Resolved options of a function run."""

    run_async: bool = False
    version: int | None = None


class ApiRequests:
    """Builds requests for one app; holds the credentials, never shows them."""

    def __init__(self, app_id: str, api_key: str, api_url: str, timeout: float) -> None:
        self._app_id = app_id
        self._api_key = api_key
        self._api_url = api_url
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ApiRequests(app_id={self._app_id!r}, api_url={self._api_url!r})"

    def app_keys(self) -> HttpRequest:
        return self._build("GET", "cages/key", Auth.API_KEY)

    def decrypt(self, data: object) -> HttpRequest:
        if data is None:
            raise InvalidArgumentError(
                "decrypt() needs data: pass an encrypted str, dict, list, bytes or bytearray."
            )
        if isinstance(data, (bytes, bytearray)):
            return self._build("POST", "decrypt", Auth.BASIC, bytes(data), OCTET_STREAM)
        if isinstance(data, (str, dict, list)):
            return self._build("POST", "decrypt", Auth.BASIC, json_body({"data": data}, "data"))
        raise UnsupportedTypeError(
            "decrypt() accepts str, dict, list, bytes or bytearray, "
            f"not {type(data).__name__}."
        )

    def client_side_token(self, payload: object, expiry_ms: int) -> HttpRequest:
        if payload is None:
            raise InvalidArgumentError(
                "create_client_side_decrypt_token() needs the payload the token may decrypt; "
                "pass the encrypted data (it limits the token to exactly that data)."
            )
        body = {"payload": payload, "expiry": expiry_ms, "action": DECRYPT_ACTION}
        return self._build("POST", "client-side-tokens", Auth.BASIC, json_body(body, "payload"))

    def run_function(self, function_name: str, payload: object, options: RunOptions) -> HttpRequest:
        path = f"functions/{function_path_segment(function_name)}/runs"
        body = json_body({"payload": payload, "async": options.run_async}, "data")
        extra = {} if options.version is None else {"x-version-id": str(options.version)}
        return self._build("POST", path, Auth.BASIC, body, extra_headers=extra)

    def run_token(self, function_name: str, data: object) -> HttpRequest:
        path = f"v2/functions/{function_path_segment(function_name)}/run-token"
        return self._build("POST", path, Auth.API_KEY, json_body(data, "data"))

    def relay_outbound_config(self) -> HttpRequest:
        return self._build("GET", "v2/relay-outbound", Auth.API_KEY)

    def _build(
        self,
        method: str,
        path: str,
        auth: Auth,
        body: bytes | None = None,
        content_type: str = JSON_CONTENT_TYPE,
        extra_headers: Mapping[str, str] | None = None,
    ) -> HttpRequest:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
            "Accept": JSON_CONTENT_TYPE,
            # Sent on GET too, exactly as the published SDK does.
            "Content-Type": content_type,
            **self._auth_header(auth),
            **(extra_headers or {}),
        }
        return HttpRequest(
            method=method,
            url=self._api_url + path,
            headers=Headers(headers),
            body=body,
            timeout=self._timeout,
        )

    def _auth_header(self, auth: Auth) -> dict[str, str]:
        if auth is Auth.API_KEY:
            return {"Api-Key": self._api_key}
        credentials = f"{self._app_id}:{self._api_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}


def function_path_segment(function_name: object) -> str:
    """Percent-encode a function name as exactly one URL path segment."""
    if not isinstance(function_name, str) or not function_name:
        raise InvalidArgumentError(
            "function_name must be the non-empty name of a Function deployed in your App."
        )
    if function_name in (".", ".."):
        # Dot segments would be collapsed by URL normalisation and hit another path.
        raise InvalidArgumentError(f"{function_name!r} is not a valid Function name.")
    return quote(function_name, safe="")


def json_body(value: object, argument: str) -> bytes:
    """Serialise like the published SDK (``json.dumps`` defaults: ASCII, ``", "``/``": "``)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except TypeError as error:
        raise UnsupportedTypeError(
            f"{argument} must be JSON-serialisable (dict, list, str, int, float, bool, None); "
            f"{_type_hint(error)}"
        ) from None
    except ValueError:
        raise InvalidArgumentError(
            f"{argument} contains NaN or Infinity, which JSON cannot represent, or an integer "
            "with too many digits to write as text; replace them (e.g. with None or a string) first."
        ) from None
    return text.encode("ascii")


def _type_hint(error: TypeError) -> str:
    # json's message names only the offending type ("Object of type set is not JSON
    # serializable"), never the value, so it is safe to pass on.
    return str(error).rstrip(".") + "."


def resolve_run_options(options: object, run_async: bool | None) -> RunOptions:
    """Merge the seed form ``options={"async", "version"}`` with the keyword ``run_async``.

    The published 5.1.3 signature is ``run(name, data, run_async=False)``, so a bool in
    the ``options`` position is read as ``run_async`` too.
    """
    if isinstance(options, bool):
        options = {"async": options}
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise UnsupportedTypeError(
            f"options must be a dict like {{'async': True, 'version': 2}}, "
            f"not {type(options).__name__}."
        )
    unknown = sorted(str(key) for key in options if key not in ("async", "version"))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown Function run option(s) {unknown}; supported: 'async', 'version'."
        )
    from_options = _optional_bool("options['async']", options.get("async"))
    from_keyword = _optional_bool("run_async", run_async)
    if None not in (from_options, from_keyword) and from_options != from_keyword:
        raise InvalidArgumentError(
            "options['async'] and run_async disagree; pass only one of them."
        )
    chosen = from_keyword if from_keyword is not None else from_options
    return RunOptions(run_async=bool(chosen), version=_version(options.get("version")))


def _optional_bool(name: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise UnsupportedTypeError(f"{name} must be True or False, not {type(value).__name__}.")


def _version(value: Any) -> int | None:
    if value is None:
        return None
    # isascii: str.isdigit() also accepts characters such as "²" that int() refuses.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FUNCTION_VERSION:
        too_long = type(value) is int and abs(value) > MAX_FUNCTION_VERSION  # repr() could fail on it
        shown = "a larger number" if too_long else repr(value)
        raise InvalidArgumentError(
            f"options['version'] must be a Function version number (int from 0 to 2**63 - 1), got {shown}."
        )
    return value
