"""Opt-in retries: the repeat rule, backoff bounds, Retry-After, and real-server behaviour.

Sleeping is injected: the fake sleeper records each requested delay and advances a fake
monotonic clock, so no test waits for real and the total-time bound is observable.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from evervault import ConfigurationError, ConnectError, RateLimitError, RequestTimeoutError, ServerError
from evervault.adapters.recording_http import RecordingTransport
from evervault.domain.errors import TransportError
from evervault.ports.http import Headers, HttpRequest, HttpResponse
from evervault.services.retry import RetryClock, RetryPolicy, is_retryable, retry_after_seconds
from tests.api.api_support import API_KEY, APP_ID, recorded

WALL_NOW = 1_700_000_000.0
KEYS_PATH = "/cages/key"


class FakeTime:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def clock(self, jitter: float = 1.0) -> RetryClock:
        return RetryClock(monotonic=lambda: self.now, wall=lambda: WALL_NOW, jitter=lambda: jitter)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def retrying_client(make_client: Any, client_kind: str, fake_time: FakeTime) -> Any:
    sleep = fake_time.sleep if client_kind == "sync" else fake_time.async_sleep
    policy = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=30.0, max_total_time=60.0)
    return make_client(retry=policy, sleep=sleep, retry_clock=fake_time.clock())


def request(method: str) -> HttpRequest:
    return HttpRequest(method=method, url="https://api.evervault.com/x")


def response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status=status, headers=Headers(headers))


# --- the repeat rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "outcome", "expected"),
    [
        ("GET", response(503), True),
        ("GET", response(502), True),
        ("GET", response(504), True),
        ("GET", response(429), True),
        ("GET", response(500), False),
        ("GET", response(404), False),
        ("GET", ConnectError("refused"), True),
        ("GET", RequestTimeoutError("slow"), True),
        ("GET", TransportError("reset"), True),
        ("POST", ConnectError("refused"), True),
        ("POST", RequestTimeoutError("slow"), False),
        ("POST", TransportError("reset"), False),
        ("POST", response(429), True),
        ("POST", response(503, **{"Retry-After": "1"}), True),
        ("POST", response(503), False),
        ("POST", response(502), False),
        ("POST", response(504), False),
        ("POST", response(200), False),
    ],
)
def test_repeat_rule(method: str, outcome: Any, expected: bool) -> None:
    assert is_retryable(method, outcome) is expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (format_datetime(datetime.fromtimestamp(WALL_NOW + 12, tz=timezone.utc), usegmt=True), 12.0),
        ("Tue, 14 Nov 2023 22:13:32 GMT", 12.0),  # WALL_NOW + 12 s, written by hand
        (format_datetime(datetime.fromtimestamp(WALL_NOW - 50, tz=timezone.utc), usegmt=True), 0.0),
        ("-3", None),
        ("soon", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, WALL_NOW) == seconds


@settings(max_examples=200, deadline=None)
@given(retries=st.integers(min_value=0, max_value=40), jitter=st.floats(min_value=0, max_value=1))
def test_backoff_grows_exponentially_within_jitter_bounds(retries: int, jitter: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    cap = min(30.0, 0.5 * 2**retries)
    assert cap / 2 <= policy.backoff(retries, jitter) <= cap


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"base_delay": float("inf")},
        {"base_delay": 10**400},  # an int beyond float range
        {"max_total_time": -1},
    ],
)
def test_invalid_policy_is_a_configuration_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)


# --- against a real server ----------------------------------------------------------------------


def test_no_retries_unless_enabled(server: HTTPServer, client: Any) -> None:
    server.expect_request(KEYS_PATH).respond_with_data("", status=503)
    with pytest.raises(ServerError):
        client.encrypt("x")
    assert len(recorded(server)) == 1


def test_fails_n_times_then_succeeds(
    server: HTTPServer, retrying_client: Any, fake_time: FakeTime, keys_body: dict[str, str]
) -> None:
    server.expect_ordered_request(KEYS_PATH).respond_with_data("", status=503)
    server.expect_ordered_request(KEYS_PATH).respond_with_data("", status=502)
    server.expect_ordered_request(KEYS_PATH).respond_with_json(keys_body)

    assert retrying_client.encrypt("x").startswith("ev:")

    assert len(recorded(server)) == 3
    assert fake_time.sleeps == [0.5, 1.0]  # jitter fixed at 1.0: the full exponential cap


def test_always_failing_server_is_bounded_in_count(
    server: HTTPServer, retrying_client: Any, fake_time: FakeTime
) -> None:
    server.expect_request(KEYS_PATH).respond_with_data("", status=504)
    with pytest.raises(ServerError):
        retrying_client.encrypt("x")
    assert len(recorded(server)) == 4  # the first try and 3 retries
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_always_failing_server_is_bounded_in_total_time(
    server: HTTPServer, make_client: Any, client_kind: str, fake_time: FakeTime
) -> None:
    server.expect_request(KEYS_PATH).respond_with_data("", status=503)
    policy = RetryPolicy(max_retries=100, base_delay=1.0, max_delay=8.0, max_total_time=20.0)
    sleep = fake_time.sleep if client_kind == "sync" else fake_time.async_sleep
    client = make_client(retry=policy, sleep=sleep, retry_clock=fake_time.clock())

    with pytest.raises(ServerError):
        client.encrypt("x")

    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]  # a further 8 s would pass 20 s in total
    assert sum(fake_time.sleeps) < 20.0
    assert len(recorded(server)) == 5


def test_retry_after_seconds_is_honoured_on_post(
    server: HTTPServer, retrying_client: Any, fake_time: FakeTime
) -> None:
    server.expect_ordered_request("/functions/f/runs").respond_with_data(
        "", status=503, headers={"Retry-After": "7"}
    )
    server.expect_ordered_request("/functions/f/runs").respond_with_data(
        "", status=429, headers={"Retry-After": "Tue, 14 Nov 2023 22:13:32 GMT"}
    )
    server.expect_ordered_request("/functions/f/runs").respond_with_json({"status": "success"})

    assert retrying_client.run("f", {}) == {"status": "success"}
    assert fake_time.sleeps == [7.0, 12.0]


def test_retry_after_longer_than_allowed_stops_immediately(
    server: HTTPServer, retrying_client: Any, fake_time: FakeTime
) -> None:
    server.expect_request("/functions/f/runs").respond_with_data(
        "", status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimitError):
        retrying_client.run("f", {})
    assert fake_time.sleeps == []
    assert len(recorded(server)) == 1


@pytest.mark.parametrize("status", [502, 504, 503])
def test_post_that_may_have_been_processed_is_not_repeated(
    server: HTTPServer, retrying_client: Any, fake_time: FakeTime, status: int
) -> None:
    server.expect_request("/functions/f/runs").respond_with_data("", status=status)
    with pytest.raises(ServerError):
        retrying_client.run("f", {})
    assert len(recorded(server)) == 1
    assert fake_time.sleeps == []


def test_refused_connection_is_retried_even_for_post(
    make_client: Any, client_kind: str, fake_time: FakeTime, closed_port: int
) -> None:
    sleep = fake_time.sleep if client_kind == "sync" else fake_time.async_sleep
    client = make_client(
        base_url=f"http://127.0.0.1:{closed_port}/",
        retry=RetryPolicy(max_retries=2),
        sleep=sleep,
        retry_clock=fake_time.clock(),
    )
    with pytest.raises(ConnectError):
        client.run("f", {})
    assert fake_time.sleeps == [0.5, 1.0]


def test_connect_error_then_success_through_the_recording_transport(fake_time: FakeTime) -> None:
    from evervault import Client

    transport = RecordingTransport(
        [ConnectError("refused"), ConnectError("refused"), HttpResponse(200, body=b'{"token": "t"}')]
    )
    client = Client(
        APP_ID,
        API_KEY,
        environ={},
        retry=True,
        transport=transport,
        sleep=fake_time.sleep,
        retry_clock=fake_time.clock(jitter=0.0),
    )
    assert client.create_run_token("f") == {"token": "t"}
    assert len(transport.requests) == 3
    assert fake_time.sleeps == [0.25, 0.5]  # jitter 0: half of each exponential cap
