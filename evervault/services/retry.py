"""Opt-in retries with exponential backoff, jitter and ``Retry-After``.

The rule for what may be repeated (one place, so it can be reviewed):

* A failure to **connect** (:class:`~evervault.domain.errors.ConnectError`) is retried
  for every method: no byte of the request left the machine.
* Any other network failure (reset, timeout while waiting for the answer) is retried
  only for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE): the server may have
  processed the request.
* Statuses 429, 502, 503 and 504 are retried for idempotent methods.
* A **POST** (function runs, token creation, decrypt) is repeated after a response only
  when the response proves it was not processed: 429 (rate limited, refused before
  processing) or 503 carrying ``Retry-After`` (the service asked us to come back). A
  502/504 from a gateway may hide a processed request, so it is returned as an error.

Bounds: at most ``max_retries`` repeats, and no repeat is started once
``max_total_time`` seconds (sleeps included) would be exceeded. A ``Retry-After``
(seconds or an HTTP date) replaces the computed backoff; if the server asks for
more than ``max_delay`` or more than the remaining budget, we stop and report the
response instead of waiting.

Sleeping and clocks are injected so tests never sleep for real.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timezone
from email.utils import parsedate_to_datetime

from evervault.domain.defaults import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_RETRY_MAX_DELAY,
    DEFAULT_RETRY_MAX_TOTAL_TIME,
)
from evervault.domain.errors import ConfigurationError, ConnectError, TransportError
from evervault.ports.http import AsyncHttpTransport, HttpRequest, HttpResponse, HttpTransport

logger = logging.getLogger("evervault.retry")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

Outcome = HttpResponse | TransportError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat a failed request."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = DEFAULT_RETRY_BASE_DELAY
    max_delay: float = DEFAULT_RETRY_MAX_DELAY
    max_total_time: float = DEFAULT_RETRY_MAX_TOTAL_TIME

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ConfigurationError("RetryPolicy.max_retries must be an int (0 disables retries).")
        if self.max_retries < 0:
            raise ConfigurationError("RetryPolicy.max_retries must be 0 or more.")
        for name in ("base_delay", "max_delay", "max_total_time"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError(f"RetryPolicy.{name} must be a number of seconds.")
            if value < 0 or not math.isfinite(_as_float(value)):
                raise ConfigurationError(f"RetryPolicy.{name} must be a finite number >= 0.")

    def with_at_least(self, retries: int) -> RetryPolicy:
        """This policy, allowing at least ``retries`` repeats."""
        return self if self.max_retries >= retries else replace(self, max_retries=retries)

    def backoff(self, retries_done: int, jitter_fraction: float) -> float:
        """Exponential backoff with "equal jitter": a delay in [cap/2, cap], cap doubling per try."""
        cap = min(self.max_delay, self.base_delay * (2.0**retries_done))
        return cap / 2 + cap / 2 * jitter_fraction

    def next_delay(
        self,
        request: HttpRequest,
        outcome: Outcome,
        *,
        retries_done: int,
        elapsed: float,
        jitter_fraction: float,
        now_epoch: float,
    ) -> float | None:
        """Seconds to wait before repeating ``request``, or ``None`` to stop here."""
        if retries_done >= self.max_retries or not is_retryable(request.method, outcome):
            return None
        server_delay = (
            retry_after_seconds(outcome.header("Retry-After"), now_epoch)
            if isinstance(outcome, HttpResponse)
            else None
        )
        if server_delay is not None and server_delay > self.max_delay:
            return None
        delay = server_delay if server_delay is not None else self.backoff(retries_done, jitter_fraction)
        if elapsed + delay >= self.max_total_time:
            return None
        return delay


def _as_float(value: float) -> float:
    """``float(value)``, with an int beyond float range read as infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


NO_RETRY = RetryPolicy(max_retries=0)


def is_retryable(method: str, outcome: Outcome) -> bool:
    """The repeat rule of this module's docstring."""
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if isinstance(outcome, ConnectError):
        return True
    if isinstance(outcome, TransportError):
        return idempotent
    if outcome.status not in RETRYABLE_STATUSES:
        return False
    if idempotent:
        return True
    return outcome.status == 429 or (
        outcome.status == 503 and outcome.header("Retry-After") is not None
    )


def retry_after_seconds(value: str | None, now_epoch: float) -> float | None:
    """Parse ``Retry-After`` (delay-seconds or HTTP-date); ``None`` when absent or unusable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now_epoch)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_http_date(text: str, now_epoch: float) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are always GMT; a zone-less date is read as UTC, not local time.
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now_epoch)


@dataclass(frozen=True)
class RetryClock:
    """The time sources a retry loop uses; replaced in tests."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.SystemRandom().random


class Retrier:
    """Sends a request through a blocking transport, repeating it as the policy allows."""

    def __init__(
        self,
        policy: RetryPolicy = NO_RETRY,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: RetryClock | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._clock = clock or RetryClock()

    def send(
        self, transport: HttpTransport, request: HttpRequest, policy: RetryPolicy | None = None
    ) -> HttpResponse:
        """Send ``request``, repeating it as ``policy`` (default: this retrier's) allows."""
        policy = policy or self.policy
        started = self._clock.monotonic()
        retries_done = 0
        while True:
            outcome: Outcome
            try:
                outcome = transport.send(request)
            except TransportError as error:
                outcome = error
            delay = _next_delay(policy, self._clock, request, outcome, retries_done, started)
            if delay is None:
                return _final(outcome)
            self._sleep(delay)
            retries_done += 1


class AsyncRetrier:
    """The asyncio twin of :class:`Retrier`."""

    def __init__(
        self,
        policy: RetryPolicy = NO_RETRY,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: RetryClock | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._clock = clock or RetryClock()

    async def send(
        self, transport: AsyncHttpTransport, request: HttpRequest, policy: RetryPolicy | None = None
    ) -> HttpResponse:
        policy = policy or self.policy
        started = self._clock.monotonic()
        retries_done = 0
        while True:
            outcome: Outcome
            try:
                outcome = await transport.send(request)
            except TransportError as error:
                outcome = error
            delay = _next_delay(policy, self._clock, request, outcome, retries_done, started)
            if delay is None:
                return _final(outcome)
            await self._sleep(delay)
            retries_done += 1


def _next_delay(
    policy: RetryPolicy,
    clock: RetryClock,
    request: HttpRequest,
    outcome: Outcome,
    retries_done: int,
    started: float,
) -> float | None:
    delay = policy.next_delay(
        request,
        outcome,
        retries_done=retries_done,
        elapsed=clock.monotonic() - started,
        jitter_fraction=clock.jitter(),
        now_epoch=clock.wall(),
    )
    if delay is not None:
        what = outcome.status if isinstance(outcome, HttpResponse) else type(outcome).__name__
        logger.info(
            "Evervault: %s %s failed (%s); retry %d in %.2f s",
            request.method,
            request.url.split("?", 1)[0],
            what,
            retries_done + 1,
            delay,
        )
    return delay


def _final(outcome: Outcome) -> HttpResponse:
    if isinstance(outcome, TransportError):
        raise outcome
    return outcome
