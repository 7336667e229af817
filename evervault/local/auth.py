"""Credentials, checked exactly as the real API checks them (docs/protocol.md §7.2).

* ``Authorization: Basic base64(app_id:api_key)`` on ``decrypt``, ``client-side-tokens``
  and ``functions/{name}/runs``;
* ``Api-Key: <api_key>`` everywhere else;
* ``Authorization: Token <client-side token>`` on ``decrypt`` (browser/mobile SDKs);
* ``Authorization: RunToken <run token>`` on ``functions/{name}/runs``.

Missing or wrong credentials answer 401 ``unauthorized``; a valid key that lacks the
operation's permission answers 403 ``forbidden``. Keys are compared in constant time
and never appear in an answer or a log line.

Parsing never raises: a header that cannot be read as any accepted scheme (bytes that
are not printable ASCII, base64 that does not decode, an unknown scheme) becomes a
:class:`Presented` without a scheme, which :meth:`Authenticator.require_key` answers
with a 401 naming the scheme the endpoint expects. When ``Authorization`` is present it
is the credential, even if an ``Api-Key`` is sent too: a request carrying two different
credentials is refused rather than guessed at.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field, replace

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
    """The credential a request carries (``Authorization`` if present, else ``Api-Key``).

    ``scheme`` is ``None`` when the header cannot be read as any accepted scheme;
    ``defect`` then says why, in words safe to send back (never the header's value).
    """

    scheme: Scheme | None
    value: str = field(default="", repr=False)
    app_id: str | None = None  # Basic only
    defect: str = ""
    note: str = ""  # added to a refusal: something else about the request's credentials


def presented_credential(request: web.Request) -> Presented | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        presented = parse_authorization(authorization)
        if "Api-Key" in request.headers:
            note = (
                "The request carries both an Authorization and an Api-Key header; the Authorization "
                "header is the credential used, so send only the one this endpoint expects."
            )
            return replace(presented, note=note)
        return presented
    api_key = request.headers.get("Api-Key")
    if api_key is not None:
        return parse_api_key(api_key)
    return None


def parse_api_key(header: str) -> Presented:
    """An ``Api-Key`` header's value: the key itself, printable ASCII."""
    value = header.strip()
    if not value or not _printable_ascii(value):
        return _unreadable("The 'Api-Key' header must be the API key (printable ASCII characters only).")
    return Presented(Scheme.API_KEY, value)


def parse_authorization(header: str) -> Presented:
    """An ``Authorization`` header's value: ``Basic``, ``Token`` or ``RunToken`` credentials."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        return parse_basic(value)
    for known in (Scheme.TOKEN, Scheme.RUN_TOKEN):
        if scheme.lower() == known.value.lower():
            if value and _printable_ascii(value):
                return Presented(known, value)
            return _unreadable(
                f"'Authorization: {known.value}' must be followed by the token (printable ASCII)."
            )
    # Named back only when it is a well-known scheme: the first word of the header may as
    # well be a bare secret, which must never appear in an answer.
    shown = repr(scheme) if scheme.lower() in _FOREIGN_SCHEMES else "a scheme"
    return _unreadable(
        f"The Authorization header uses {shown}, which the Evervault API does not accept "
        "(accepted: Basic, Token, RunToken)."
    )


def parse_basic(encoded: str) -> Presented:
    """``base64(app_id:api_key)`` of ``Authorization: Basic``."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error, ValueError):
        decoded = ""
    app_id, separator, api_key = decoded.partition(":")
    if not separator or not _printable_ascii(decoded):
        return _unreadable("'Authorization: Basic' must carry base64('app_id:api_key'), ASCII only.")
    return Presented(Scheme.BASIC, api_key, app_id=app_id)


_FOREIGN_SCHEMES = frozenset(
    {
        "bearer",
        "digest",
        "negotiate",
        "ntlm",
        "hoba",
        "mutual",
        "oauth",
        "apikey",
        "api-key",
        "aws4-hmac-sha256",
    }
)


def _unreadable(defect: str) -> Presented:
    return Presented(None, defect=defect)


def _printable_ascii(text: str) -> bool:
    return all(" " <= character <= "~" for character in text)


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
        note = presented.note

        def refuse(detail: str) -> AuthenticationError:
            return unauthorized(f"{detail} {note}".rstrip())

        if presented.scheme is None:
            raise refuse(f"{presented.defect} This endpoint expects {expected}.")
        if presented.scheme not in schemes:
            raise refuse(f"This endpoint expects {expected}, not {presented.scheme.value}.")
        if presented.scheme is Scheme.BASIC and presented.app_id != self._state.app_id:
            raise refuse("The App ID in the Basic credentials is not this app's.")
        key = self._state.find_api_key(presented.value)
        if key is None:
            raise refuse("The API key is not valid for this app.")
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
