"""Client-side decrypt token expiry rules (pure: "now" is passed in)."""

from __future__ import annotations

from datetime import datetime

from evervault.domain.defaults import DEFAULT_TOKEN_LIFETIME_MS
from evervault.domain.errors import InvalidArgumentError, UnsupportedTypeError

MILLIS_PER_SECOND = 1000
MAX_TOKEN_LIFETIME_MS = 10 * 60 * MILLIS_PER_SECOND


def epoch_millis(moment: datetime) -> int:
    """Exact Unix epoch milliseconds; a naive ``datetime`` is local time (as ``timestamp()``)."""
    # Whole seconds and microseconds separately: float(seconds) * 1000 may round down 1 ms.
    whole_seconds = int(moment.replace(microsecond=0).timestamp())
    return whole_seconds * MILLIS_PER_SECOND + moment.microsecond // 1000


def token_expiry_millis(expiry: datetime | None, now_epoch: float) -> int:
    """The ``expiry`` sent for a client-side token: default now + 5 min, at most now + 10 min."""
    now_ms = int(now_epoch * MILLIS_PER_SECOND)
    if expiry is None:
        return now_ms + DEFAULT_TOKEN_LIFETIME_MS
    if not isinstance(expiry, datetime):
        raise UnsupportedTypeError(
            f"expiry must be a datetime (naive = local time), not {type(expiry).__name__}; "
            "e.g. datetime.now() + timedelta(minutes=5)."
        )
    try:
        expiry_ms = epoch_millis(expiry)
    except (ValueError, OverflowError, OSError):  # e.g. a naive datetime.min in local time
        raise InvalidArgumentError(
            "expiry cannot be converted to a Unix timestamp; pass a datetime up to "
            "10 minutes in the future (naive datetimes are local time) or None for the 5-minute default."
        ) from None
    if expiry_ms <= now_ms:
        raise InvalidArgumentError(
            "expiry is in the past; pass a datetime up to 10 minutes in the future "
            "(naive datetimes are local time) or None for the 5-minute default."
        )
    if expiry_ms > now_ms + MAX_TOKEN_LIFETIME_MS:
        raise InvalidArgumentError(
            "expiry is more than 10 minutes in the future; client-side tokens may live at "
            "most 10 minutes. Pass an earlier datetime or None for the 5-minute default."
        )
    return expiry_ms
