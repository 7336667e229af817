"""Pure pieces: request builders, token expiry, relay configuration parsing (property tests)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault import InvalidArgumentError, RelayError, UnsupportedTypeError
from evervault.domain.relay import RelayOutboundConfig, parse_poll_interval, parse_relay_outbound_config
from evervault.services.api_requests import (
    ApiRequests,
    RunOptions,
    function_path_segment,
    json_body,
    resolve_run_options,
)
from evervault.services.tokens import epoch_millis, token_expiry_millis
from tests.api.api_support import API_KEY, APP_ID, BASIC_AUTH

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1).filter(lambda name: name not in (".", "..")))
def test_function_names_become_exactly_one_reversible_path_segment(name: str) -> None:
    segment = function_path_segment(name)
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment.isascii()
    assert unquote(segment) == name


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_json_bodies_match_the_published_serialiser_and_round_trip(value: Any) -> None:
    body = json_body(value, "data")
    assert body == json.dumps(value).encode()
    assert json.loads(body) == value


@pytest.mark.parametrize(
    ("value", "error"), [({1, 2}, UnsupportedTypeError), ([float("inf")], InvalidArgumentError)]
)
def test_json_body_rejects_values_json_cannot_carry(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        json_body(value, "data")


def test_builder_uses_basic_for_decrypt_tokens_and_runs_and_api_key_otherwise() -> None:
    builder = ApiRequests(APP_ID, API_KEY, "https://api.test/", 12.5)
    basic = [
        builder.decrypt("ev:x"),
        builder.client_side_token("ev:x", 1),
        builder.run_function("decrypt", {}, RunOptions()),
    ]
    api_key = [builder.app_keys(), builder.run_token("decrypt", {}), builder.relay_outbound_config()]
    for request in basic:
        assert request.headers["Authorization"] == BASIC_AUTH and "Api-Key" not in request.headers
    for request in api_key:
        assert request.headers["Api-Key"] == API_KEY and "Authorization" not in request.headers
    assert {request.timeout for request in basic + api_key} == {12.5}
    assert [request.url for request in api_key] == [
        "https://api.test/cages/key",
        "https://api.test/v2/functions/decrypt/run-token",
        "https://api.test/v2/relay-outbound",
    ]


@pytest.mark.parametrize(
    ("options", "run_async", "expected"),
    [
        (None, None, RunOptions(False, None)),
        ({}, True, RunOptions(True, None)),
        ({"async": True}, None, RunOptions(True, None)),
        ({"async": True}, True, RunOptions(True, None)),
        ({"version": 4}, None, RunOptions(False, 4)),
        ({"version": "4"}, None, RunOptions(False, 4)),
        (False, None, RunOptions(False, None)),
    ],
)
def test_run_options(options: Any, run_async: bool | None, expected: RunOptions) -> None:
    assert resolve_run_options(options, run_async) == expected


@pytest.mark.parametrize(
    ("options", "run_async"),
    [
        ("async", None),
        ({"version": -1}, None),
        ({"version": True}, None),
        ({"version": "\u00b2"}, None),  # "²".isdigit() is true, but int() refuses it
        ({"version": 10**5000}, None),  # too many digits for the x-version-id header's str()
        ({"version": -(10**5000)}, None),
        ({"async": 1}, None),
        (None, "no"),
    ],
)
def test_bad_run_options(options: Any, run_async: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_run_options(options, run_async)


# --- token expiry -------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)


@settings(max_examples=200, deadline=None)
@given(moments)
def test_epoch_millis_is_exact(moment: datetime) -> None:
    exact = (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)
    assert epoch_millis(moment) == int(Decimal(exact) // 1000)


@pytest.mark.parametrize("expiry", [datetime.min, datetime.min.replace(tzinfo=timezone.utc)])
def test_an_expiry_outside_the_timestamp_range_is_a_typed_error(expiry: datetime) -> None:
    with pytest.raises(InvalidArgumentError, match="10 minutes"):
        token_expiry_millis(expiry, 1_700_000_000.0)


def test_an_integer_too_long_for_json_is_named_in_the_error() -> None:
    with pytest.raises(InvalidArgumentError, match="integer"):
        json_body({"n": 10**5000}, "data")


def test_naive_datetimes_are_local_time() -> None:
    moment = datetime(2024, 6, 1, 12, 0, 0, 999_999)
    assert epoch_millis(moment) == int(moment.replace(microsecond=0).timestamp()) * 1000 + 999


@settings(max_examples=100, deadline=None)
@given(offset_ms=st.integers(min_value=-3_600_000, max_value=3_600_000))
def test_expiry_window_is_now_exclusive_to_ten_minutes_inclusive(offset_ms: int) -> None:
    now = 1_700_000_000.0
    expiry = datetime.fromtimestamp(now, tz=timezone.utc) + timedelta(milliseconds=offset_ms)
    if 0 < offset_ms <= 600_000:
        assert token_expiry_millis(expiry, now) == 1_700_000_000_000 + offset_ms
    else:
        with pytest.raises(InvalidArgumentError):
            token_expiry_millis(expiry, now)


# --- relay configuration ------------------------------------------------------------------------


def test_relay_config_uses_destination_domains_and_falls_back_to_keys() -> None:
    body = {
        "outboundDestinations": {
            "a.example.com": {"destinationDomain": "a.example.com"},
            "b.example.com": {"id": 2},
        }
    }
    assert parse_relay_outbound_config(body, "5") == RelayOutboundConfig(
        ("a.example.com", "b.example.com"), 5.0
    )
    assert parse_relay_outbound_config({}, None) == RelayOutboundConfig((), None)


@pytest.mark.parametrize(
    "body",
    [[], "x", {"outboundDestinations": []}, {"outboundDestinations": {"k": {"destinationDomain": 5}}}],
)
def test_relay_config_with_an_unusable_shape_is_a_relay_error(body: Any) -> None:
    with pytest.raises(RelayError):
        parse_relay_outbound_config(body, None)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("5", 5.0), (" 0.25 ", 0.25), ("0", None), ("-1", None), ("inf", None), ("soon", None), (None, None)],
)
def test_poll_interval_header(header: str | None, seconds: float | None) -> None:
    assert parse_poll_interval(header) == seconds
