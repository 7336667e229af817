"""Credentials, checked exactly as the real API checks them (docs/protocol.md §7.2).

* ``Authorization: Basic base64(app_id:api_key)`` on ``decrypt``, ``client-side-tokens``
  and ``functions/{name}/runs``;
* ``Api-Key: <api_key>`` everywhere else;
* ``Authorization: Token <client-side token>`` on ``decrypt`` (browser/mobile SDKs);
* ``Authorization: RunToken <run token>`` on ``functions/{name}/runs``.

Missing or wrong credentials answer 401 ``unauthorized``; a valid key that lacks the
operation's permission answers 403 ``forbidden``. Keys are compared in constant time
and never appear in an answer or a log line.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field

from aiohttp import web

from evervault.domain.errors import AuthenticationError, ForbiddenError
from evervault.local.problems import UNAUTHORIZED_DETAIL
from evervault.local.state import ALL_PERMISSIONS, ApiKey, LocalState, Permission


class Scheme(enum.Enum):
    BASIC = "Basic"
    API_KEY = "Api-Key"
    TOKEN = "Token"  # noqa: S105 - an auth scheme name, not a secret
    RUN_TOKEN = "RunToken"  # noqa: S105 - an auth scheme name, not a secret


@dataclass(frozen=True)
class Presented:
    """The credential a request carries (the first of Authorization, then Api-Key)."""

    scheme: Scheme
    value: str = field(repr=False)
    app_id: str | None = None  # Basic only


def presented_credential(request: web.Request) -> Presented | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return _parse_authorization(authorization)
    api_key = request.headers.get("Api-Key")
    if api_key is not None:
        return Presented(Scheme.API_KEY, api_key.strip())
    return None


def _parse_authorization(header: str) -> Presented | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        return _parse_basic(value)
    for known in (Scheme.TOKEN, Scheme.RUN_TOKEN):
        if scheme.lower() == known.value.lower() and value:
            return Presented(known, value)
    return None


def _parse_basic(encoded: str) -> Presented | None:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    app_id, separator, api_key = decoded.partition(":")
    if not separator:
        return None
    return Presented(Scheme.BASIC, api_key, app_id=app_id)


def unauthorized(detail: str) -> AuthenticationError:
    return AuthenticationError(f"{UNAUTHORIZED_DETAIL} {detail}", status_code=401, code="unauthorized")


class Authenticator:
    """Checks a request's API key against the state's keys and their permissions."""

    def __init__(self, state: LocalState) -> None:
        self._state = state

    def require_key(
        self,
        presented: Presented | None,
        schemes: tuple[Scheme, ...],
        *permissions: Permission,
    ) -> ApiKey:
        """The API key of a request made with one of ``schemes``, holding every one of ``permissions``."""
        expected = " or ".join(_describe(scheme) for scheme in schemes)
        if presented is None:
            raise unauthorized(f"Send {expected}.")
        if presented.scheme not in schemes:
            raise unauthorized(f"This endpoint expects {expected}, not {presented.scheme.value}.")
        if presented.scheme is Scheme.BASIC and presented.app_id != self._state.app_id:
            raise unauthorized("The App ID in the Basic credentials is not this app's.")
        key = self._state.find_api_key(presented.value)
        if key is None:
            raise unauthorized("The API key is not valid for this app.")
        missing = [permission.value for permission in permissions if permission not in key.permissions]
        if missing:
            raise ForbiddenError(
                f"The API key does not have the {' and '.join(map(repr, missing))} permission(s) this "
                "operation needs.",
                status_code=403,
                code="forbidden",
            )
        return key

    def require_admin(self, presented: Presented | None) -> ApiKey:
        """An ``Api-Key`` holding every permission (the emulator's ``/_local`` endpoints)."""
        key = self.require_key(presented, (Scheme.API_KEY,))
        if key.permissions != ALL_PERMISSIONS:
            raise ForbiddenError(
                "The emulator's /_local endpoints need an API key with every permission.",
                status_code=403,
                code="forbidden",
            )
        return key


def _describe(scheme: Scheme) -> str:
    if scheme is Scheme.BASIC:
        return "'Authorization: Basic base64(app_id:api_key)'"
    if scheme is Scheme.API_KEY:
        return "an 'Api-Key' header"
    return f"'Authorization: {scheme.value} <token>'"
