"""Every client operation against a server that misbehaves on purpose (hardening.faults).

Each call must end in a typed EvervaultError within its timeout plus bounded retries,
leave no thread or socket behind, and never repeat a POST the server may have processed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardening.faults import (
    ALL_MODES,
    CLIENTS,
    OPERATIONS,
    FaultOutcome,
    FaultServerProcess,
    FaultSettings,
    fault_server,
    judge_requests,
    run_case,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServerProcess]:
    with fault_server() as running:
        yield running


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("client_kind", CLIENTS)
def test_every_misbehaviour_ends_in_a_typed_error_without_leaks_or_unsafe_retries(
    server: FaultServerProcess, client_kind: str, operation: str
) -> None:
    settings = FaultSettings()
    outcomes = [run_case(server, client_kind, operation, mode, settings) for mode in ALL_MODES]
    failed = {outcome.mode: (outcome.error, outcome.problems) for outcome in outcomes if not outcome.ok}
    assert not failed
    by_mode = {outcome.mode: outcome for outcome in outcomes}
    # The retry rule is visible in the counts: a POST is repeated only after a 429 or a
    # 503 with Retry-After; a GET after any retryable failure.
    retried = by_mode["429"].requests
    assert retried == settings.policy.max_retries + 1
    if operation != "key-fetch":
        assert by_mode["502"].requests == by_mode["reset-before-answer"].requests == 1
    else:
        assert by_mode["502"].requests == settings.policy.max_retries + 1


def test_the_judge_flags_a_repeated_post_and_a_success() -> None:
    repeated = FaultOutcome("Client", "decrypt", "reset-before-answer", requests=2)
    judge_requests(repeated, max_retries=2)
    assert repeated.problems
    rate_limited = FaultOutcome("Client", "decrypt", "429", requests=3)
    judge_requests(rate_limited, max_retries=2)
    assert rate_limited.ok
