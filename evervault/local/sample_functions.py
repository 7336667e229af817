"""Sample Functions the emulator registers by default (``serve --no-sample-functions`` to omit).

They show the two accepted signatures and give other SDKs' test suites a success,
a failure and a timeout to exercise without writing any Python.
"""

from __future__ import annotations

import time
from typing import Any

from evervault.local.functions import FunctionContext

MAX_SLEEP_SECONDS = 60.0

SAMPLE_TARGETS = {
    "hello": "evervault.local.sample_functions:hello",
    "echo": "evervault.local.sample_functions:echo",
    "fail": "evervault.local.sample_functions:fail",
    "sleep": "evervault.local.sample_functions:sleep",
}


class SampleFunctionError(Exception):
    """Raised on purpose by :func:`fail` so callers can see a Function failure."""


def hello(payload: Any, context: FunctionContext) -> dict[str, Any]:
    """Greets the payload's ``name`` and describes the (decrypted) fields it received."""
    fields = payload if isinstance(payload, dict) else {}
    name = fields.get("name", "world")
    return {
        "message": f"Hello from a Function, {name}!",
        "fields": {key: type(value).__name__ for key, value in sorted(fields.items())},
        "runId": context.run_id,
    }


def echo(payload: Any) -> Any:
    """Returns the decrypted payload unchanged (proves the Function saw plaintext)."""
    return payload


def fail(payload: Any) -> Any:
    """Always raises: the run ends with ``status: failure`` and the error's message and stack."""
    message = payload.get("message") if isinstance(payload, dict) else None
    raise SampleFunctionError(str(message) if message else "The sample Function failed on purpose.")


def sleep(payload: Any) -> dict[str, float]:
    """Sleeps ``payload["seconds"]`` (at most 60): exceeds a short timeout on request."""
    seconds = payload.get("seconds", 1) if isinstance(payload, dict) else 1
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise SampleFunctionError("'seconds' must be a number.")
    duration = min(max(float(seconds), 0.0), MAX_SLEEP_SECONDS)
    time.sleep(duration)
    return {"slept": duration}
