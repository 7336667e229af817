"""Soak: 16 threads, then 64 asyncio tasks, encrypt mixed values while the session key rotates
every few milliseconds; every value must decrypt to the original through a real emulator.

``EV_SOAK_VALUES`` sets the total number of values (split evenly between the two runs;
default 30,000 so the default run stays well under a minute on two loaded cores; the
long run, ``make soak``, encrypts at least 200,000 with the same harness).
"""

from __future__ import annotations

import os

from evervault.bootstrap.clients import AsyncClient
from evervault.local.pytest_plugin import LocalEvervault
from hardening.soak import (
    SOAK_REQUEST_TIMEOUT,
    SoakResult,
    check,
    fast_rotation,
    soak_tasks,
    soak_threads,
)

TOTAL_VALUES = int(os.environ.get("EV_SOAK_VALUES", "30000"))
ROTATION_SECONDS = 0.003


def assert_nothing_lost(result: SoakResult, expected_values: int) -> None:
    assert result.values >= expected_values
    assert result.lost == 0, result.examples
    assert result.files > 0 and 0 < result.with_role < result.values
    # The key rotated many times during the run (each key lives for 3 ms).
    assert result.distinct_keys > 10, result.distinct_keys


def test_sixteen_threads_lose_no_value_across_rotations(evervault_local: LocalEvervault) -> None:
    with fast_rotation(ROTATION_SECONDS):
        result = soak_threads(
            lambda: evervault_local.info.client(request_timeout=SOAK_REQUEST_TIMEOUT), TOTAL_VALUES // 2
        )
    assert_nothing_lost(result, TOTAL_VALUES // 2)


async def test_sixty_four_tasks_lose_no_value_across_rotations(evervault_local: LocalEvervault) -> None:
    info = evervault_local.info

    def make_client() -> AsyncClient:
        return AsyncClient(
            info.app_id,
            info.api_key,
            base_url=info.api_url,
            ca_host=info.ca_url,
            request_timeout=SOAK_REQUEST_TIMEOUT,
        )

    with fast_rotation(ROTATION_SECONDS):
        result = await soak_tasks(make_client, TOTAL_VALUES // 2, tasks=64)
    assert_nothing_lost(result, TOTAL_VALUES // 2)


def test_the_check_counts_a_value_lost_when_its_type_or_value_changes() -> None:
    result = SoakResult("check", 1)
    originals = [True, 1, 1.0, {"a": [1, "x"]}, "s"]
    check(result, originals, [1, True, 1, {"a": [1, "y"]}, "s"])
    assert result.lost == 5 and len(result.examples) == 4
    check(result, originals, [True, 1, 1.0, {"a": [1, "x"]}, "s"])
    assert result.lost == 5
    check(result, originals, originals[:2])  # a short answer loses the whole batch
    assert result.lost == 11
