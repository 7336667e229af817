"""Client-side decrypt tokens and Function run tokens, held in memory.

Both kinds are bound to the exact payload they were issued for: the payload is
reduced to a canonical JSON text (sorted keys, no insignificant whitespace) and
the token is only accepted with a payload whose canonical text is identical.

* Client-side tokens (``POST client-side-tokens``) expire at the requested epoch
  milliseconds (default now + 5 min, at most now + 10 min) and may be used any
  number of times before then, on ``POST decrypt`` with ``Authorization: Token <t>``.
* Run tokens (``POST v2/functions/{name}/run-token``) are single use, bound to the
  Function and the payload, and expire after ``RUN_TOKEN_LIFETIME_MS``. They are used
  on ``POST functions/{name}/runs`` with ``Authorization: RunToken <t>`` and the same
  ``{"payload": ...}`` body. A refused attempt (wrong payload or Function) does not
  consume the token; a successful one does, before the Function starts.

Tokens live only as long as the emulator process: a restart invalidates them all.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from evervault.domain.errors import AuthenticationError, ForbiddenError, RateLimitError
from evervault.local.problems import bad_request

DEFAULT_CLIENT_TOKEN_LIFETIME_MS = 5 * 60 * 1000
MAX_CLIENT_TOKEN_LIFETIME_MS = 10 * 60 * 1000
# The SDK computes "now + 10 min" before the request travels: allow that much lateness.
EXPIRY_LEEWAY_MS = 2000
RUN_TOKEN_LIFETIME_MS = 5 * 60 * 1000
DECRYPT_ACTION = "api:decrypt"
MAX_TOKENS = 10_000

Clock = Callable[[], float]


def canonical_json(value: object) -> str:
    """The one text a JSON value has regardless of key order or whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _same_payload(bound: str, presented: object) -> bool:
    try:
        text = canonical_json(presented)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(bound.encode("utf-8"), text.encode("utf-8"))


@dataclass(frozen=True)
class ClientSideToken:
    token: str = field(repr=False)
    token_id: str
    payload: str = field(repr=False)
    expiry_ms: int
    created_at_ms: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.token_id,
            "token": self.token,
            "expiry": self.expiry_ms,
            "createdAt": self.created_at_ms,
        }


@dataclass(frozen=True)
class RunToken:
    token: str = field(repr=False)
    function_name: str
    payload: str = field(repr=False)
    expiry_ms: int


def resolve_expiry(expiry: object, now_ms: int) -> int:
    """The expiry of a new client-side token: default now + 5 min, at most now + 10 min."""
    # Go sends 0 and Python/Ruby send null for "no expiry given" (wire-format 7.3.4).
    if expiry is None or expiry == 0:
        return now_ms + DEFAULT_CLIENT_TOKEN_LIFETIME_MS
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
        raise bad_request(
            "'expiry' must be Unix epoch milliseconds (a number) or null for the 5-minute default."
        )
    expiry_ms = int(expiry)
    if expiry_ms <= now_ms:
        raise bad_request("'expiry' is in the past; pass epoch milliseconds up to 10 minutes in the future.")
    if expiry_ms > now_ms + MAX_CLIENT_TOKEN_LIFETIME_MS + EXPIRY_LEEWAY_MS:
        raise bad_request(
            "'expiry' is more than 10 minutes in the future; client-side tokens live at most 10 minutes."
        )
    return expiry_ms


class TokenStore:
    """Issues and checks both kinds of token. Thread-safe; expired tokens are pruned lazily."""

    def __init__(self, clock: Clock, *, run_token_lifetime_ms: int = RUN_TOKEN_LIFETIME_MS) -> None:
        self._clock = clock
        self._run_token_lifetime_ms = run_token_lifetime_ms
        self._client_tokens: dict[str, ClientSideToken] = {}
        self._run_tokens: dict[str, RunToken] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every token (``POST _local/reset``)."""
        with self._lock:
            self._client_tokens.clear()
            self._run_tokens.clear()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- client-side tokens ------------------------------------------------------------------

    def issue_client_side_token(self, payload: object, expiry: object, action: object) -> ClientSideToken:
        if action not in (None, DECRYPT_ACTION):
            raise bad_request(f"'action' must be {DECRYPT_ACTION!r}, the only client-side token action.")
        now_ms = self.now_ms()
        token = ClientSideToken(
            token=secrets.token_urlsafe(32),
            token_id="client_side_token_" + secrets.token_hex(12),
            payload=_bindable(payload),
            expiry_ms=resolve_expiry(expiry, now_ms),
            created_at_ms=now_ms,
        )
        with self._lock:
            self._prune(now_ms)
            self._client_tokens[token.token] = token
        return token

    def check_client_side_token(self, presented: str, payload: object) -> None:
        """Accept ``payload`` for decryption with ``presented``, or raise 401/403."""
        with self._lock:
            token = self._client_tokens.get(presented)
        if token is None or token.expiry_ms <= self.now_ms():
            raise AuthenticationError(
                "The client-side token is unknown or expired; create a new one with "
                "create_client_side_decrypt_token().",
                status_code=401,
                code="unauthorized",
            )
        if not _same_payload(token.payload, payload):
            raise ForbiddenError(
                "This client-side token was issued for a different payload; it can decrypt only "
                "the exact data it was created with.",
                status_code=403,
                code="forbidden",
            )

    # --- run tokens ----------------------------------------------------------------------------

    def issue_run_token(self, function_name: str, payload: object) -> RunToken:
        now_ms = self.now_ms()
        token = RunToken(
            token=secrets.token_urlsafe(32),
            function_name=function_name,
            payload=_bindable(payload),
            expiry_ms=now_ms + self._run_token_lifetime_ms,
        )
        with self._lock:
            self._prune(now_ms)
            self._run_tokens[token.token] = token
        return token

    def redeem_run_token(self, presented: str, function_name: str, payload: object) -> None:
        """Consume ``presented`` for this run, or raise 401/403 (leaving it unused)."""
        with self._lock:
            token = self._run_tokens.get(presented)
            if token is None or token.expiry_ms <= self.now_ms():
                raise AuthenticationError(
                    "The run token is unknown, expired or already used; run tokens are single use. "
                    "Create a new one with create_run_token().",
                    status_code=401,
                    code="unauthorized",
                )
            if token.function_name != function_name or not _same_payload(token.payload, payload):
                raise ForbiddenError(
                    "This run token was issued for another Function or payload; use it with "
                    "exactly the Function and data it was created for.",
                    status_code=403,
                    code="forbidden",
                )
            del self._run_tokens[presented]

    def _prune(self, now_ms: int) -> None:
        for tokens in (self._client_tokens, self._run_tokens):
            expired = [key for key, token in tokens.items() if token.expiry_ms <= now_ms]
            for key in expired:
                del tokens[key]
            if len(tokens) >= MAX_TOKENS:
                raise RateLimitError(
                    f"The emulator holds {MAX_TOKENS} live tokens; wait for some to expire.",
                    status_code=429,
                    code="too-many-requests",
                )


def _bindable(payload: object) -> str:
    try:
        return canonical_json(payload)
    except (TypeError, ValueError):
        raise bad_request("The payload must be plain JSON (no NaN or Infinity).") from None
