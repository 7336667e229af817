"""Sample Functions: ``hello``, ``fail`` and ``sleep`` by default, ``echo`` only on request.

They show the two accepted signatures and give other SDKs' test suites a success,
a failure and a timeout to exercise without writing any Python
(``serve --no-sample-functions`` omits them).

Least privilege: a key that may only run Functions (or mint run tokens) must not be able
to read plaintext through them. So no default sample returns anything derived from the
decrypted values: ``hello`` answers the JSON type of each field (which every ciphertext
already shows in clear), and ``fail`` and ``sleep`` receive the payload exactly as sent,
never decrypted, so neither their answer nor their running time depends on a secret.

``echo`` returns its decrypted input: anyone allowed to run it reads the plaintext of any
ciphertext of the app. It is registered only when asked for, with the unmistakably
named ``serve --unsafe-echo-function`` (``EmulatorOptions(unsafe_echo_function=True)``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from evervault.local.functions import FunctionContext

MAX_SLEEP_SECONDS = 60.0


@dataclass(frozen=True)
class SampleFunction:
    """A sample's ``package.module:callable`` and whether it is given the decrypted payload."""

    target: str
    decrypts_payload: bool


SAMPLE_FUNCTIONS = {
    "hello": SampleFunction("evervault.local.sample_functions:hello", decrypts_payload=True),
    "fail": SampleFunction("evervault.local.sample_functions:fail", decrypts_payload=False),
    "sleep": SampleFunction("evervault.local.sample_functions:sleep", decrypts_payload=False),
}
UNSAFE_ECHO_FUNCTION = (
    "echo",
    SampleFunction("evervault.local.sample_functions:echo", decrypts_payload=True),
)


class SampleFunctionError(Exception):
    """Raised on purpose by :func:`fail` so callers can see a Function failure."""


def hello(payload: Any, context: FunctionContext) -> dict[str, Any]:
    """Describes the (decrypted) top-level fields by JSON type: proof of decryption, no plaintext.

    An encrypted number arrives as a number and an encrypted boolean as a boolean, so
    ``{"age": "number"}`` shows the Function saw the decrypted value; the type itself is
    written in clear in every ciphertext.
    """
    fields = payload if isinstance(payload, dict) else {}
    return {
        "message": "Hello from a Function!",
        "fields": {key: json_type(value) for key, value in sorted(fields.items())},
        "runId": context.run_id,
    }


def json_type(value: Any) -> str:
    """``string``, ``number``, ``boolean``, ``null``, ``array`` or ``object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def echo(payload: Any) -> Any:
    """Returns the decrypted payload unchanged. UNSAFE: hands plaintext to whoever may run it."""
    return payload


def fail(payload: Any) -> Any:
    """Always raises: the run ends with ``status: failure`` and the error's message and stack.

    The message is the payload's ``message`` as sent (a ciphertext stays a ciphertext).
    """
    message = payload.get("message") if isinstance(payload, dict) else None
    raise SampleFunctionError(str(message) if message else "The sample Function failed on purpose.")


def sleep(payload: Any) -> dict[str, float]:
    """Sleeps ``payload["seconds"]`` (at most 60, sent in plaintext): exceeds a short timeout on request."""
    seconds = payload.get("seconds", 1) if isinstance(payload, dict) else 1
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise SampleFunctionError("'seconds' must be a plaintext number (this sample never decrypts).")
    duration = min(max(float(seconds), 0.0), MAX_SLEEP_SECONDS)
    time.sleep(duration)
    return {"slept": duration}
