"""Runs INSIDE the published SDK's virtualenv: one ``evervault.init``, then a list of calls.

Protocol (one JSON document each way, so nothing secret ever appears on a command line):

* stdin  ``{"protocol": 1, "init": {"app_id", "api_key", "curve"}, "calls": [{"op", "args"}, ...]}``
  where every argument value is *tagged* (see :func:`encode_value`);
* stdout ``{"protocol": 1, "results": [{"ok": true, "value": <tagged>} |
  {"ok": false, "error": {"type", "module", "message"}}, ...]}`` in call order.

Anything the published SDK prints goes to stderr, so stdout carries only the result.
Exit status 2 means the job itself was unusable (bad JSON, unknown op); per-call SDK
failures are results, not exit statuses.

This file is also imported by the harness (``tests.support.published_sdk``) for the
value codec, so both sides share one definition of the tags. It therefore uses only
the standard library at import time and imports ``evervault`` only in :func:`main`,
where ``evervault`` is the *published* package of the venv (the driver is started with
``python -I``, so our repository is not on ``sys.path``).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

PROTOCOL_VERSION = 1
TAG = "$"
VALUE = "v"

JsonObject = dict[str, Any]

# --- the tagged value codec ------------------------------------------------------------
# JSON alone would lose bytes, sets, tuples, non-string dict keys, huge ints, -0.0, nan
# and the bool/int distinction; every value is therefore written as {"$": kind, "v": ...}.


def encode_value(value: object) -> JsonObject:
    """The tagged JSON form of a Python value (raises ``TypeError`` for unsupported types)."""
    if value is None:
        return {TAG: "none"}
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return {TAG: "bool", VALUE: value}
    if isinstance(value, int):
        return {TAG: "int", VALUE: int.__repr__(value)}  # text: JSON readers may round big ints
    if isinstance(value, float):
        return {TAG: "float", VALUE: float.__repr__(value)}  # exact, and covers nan/inf/-0.0
    if isinstance(value, str):
        return {TAG: "str", VALUE: value}
    if isinstance(value, (bytes, bytearray)):
        kind = "bytes" if isinstance(value, bytes) else "bytearray"
        return {TAG: kind, VALUE: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {TAG: "dict", VALUE: [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    for kind, container in _SEQUENCE_KINDS.items():
        if type(value) is container:
            return {TAG: kind, VALUE: [encode_value(item) for item in value]}  # type: ignore[attr-defined]
    raise TypeError(f"cannot tag a value of type {type(value).__name__}")


def decode_value(node: Any) -> Any:
    """The Python value of a tagged JSON node (raises ``ValueError`` for malformed nodes)."""
    if not isinstance(node, dict) or not isinstance(node.get(TAG), str):
        raise ValueError(f"not a tagged value: {_preview(node)}")
    kind: str = node[TAG]
    if kind == "none":
        return None
    payload = node.get(VALUE)
    scalar = _SCALAR_DECODERS.get(kind)
    if scalar is not None:
        return scalar(payload)
    if kind == "dict":
        return {decode_value(key): decode_value(item) for key, item in _pairs(payload)}
    container = _SEQUENCE_KINDS.get(kind)
    if container is not None:
        return container(decode_value(item) for item in _items(payload))
    raise ValueError(f"unknown value tag {kind!r}")


def _checked(expected: type, payload: Any) -> Any:
    if not isinstance(payload, expected) or (expected is not bool and isinstance(payload, bool)):
        raise ValueError(f"expected a JSON {expected.__name__}, got {_preview(payload)}")
    return payload


_SCALAR_DECODERS: dict[str, Callable[[Any], Any]] = {
    "bool": lambda payload: _checked(bool, payload),
    "int": lambda payload: int(_checked(str, payload)),
    "float": lambda payload: float(_checked(str, payload)),
    "str": lambda payload: _checked(str, payload),
    "bytes": lambda payload: base64.b64decode(_checked(str, payload), validate=True),
    "bytearray": lambda payload: bytearray(base64.b64decode(_checked(str, payload), validate=True)),
}

_SEQUENCE_KINDS: dict[str, Callable[..., Any]] = {
    "list": list,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
}


def _items(payload: Any) -> list[Any]:
    return list(_checked(list, payload))


def _pairs(payload: Any) -> list[tuple[Any, Any]]:
    pairs = _items(payload)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
        raise ValueError("a tagged dict must be a list of [key, value] pairs")
    return [(pair[0], pair[1]) for pair in pairs]


def _preview(node: Any) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


# --- calls on the published SDK ----------------------------------------------------------

SdkModule = Any  # the published ``evervault`` module: untyped, lives in another venv
Operation = Callable[[SdkModule, Mapping[str, Any]], Any]


def _encrypt(sdk: SdkModule, args: Mapping[str, Any]) -> Any:
    return sdk.encrypt(args["value"], args.get("role"))


def _decrypt(sdk: SdkModule, args: Mapping[str, Any]) -> Any:
    return sdk.decrypt(args["value"])


def _create_client_side_decrypt_token(sdk: SdkModule, args: Mapping[str, Any]) -> Any:
    # The published SDK takes a datetime; the job carries epoch seconds (or None).
    expiry_seconds = args.get("expiry")
    expiry = None if expiry_seconds is None else datetime.fromtimestamp(expiry_seconds, tz=timezone.utc)
    return sdk.create_client_side_decrypt_token(args["payload"], expiry)


def _run(sdk: SdkModule, args: Mapping[str, Any]) -> Any:
    return sdk.run(args["function_name"], args["payload"], bool(args.get("run_async", False)))


def _create_run_token(sdk: SdkModule, args: Mapping[str, Any]) -> Any:
    return sdk.create_run_token(args["function_name"], args.get("payload", {}))


OPERATIONS: dict[str, Operation] = {
    "encrypt": _encrypt,
    "decrypt": _decrypt,
    "create_client_side_decrypt_token": _create_client_side_decrypt_token,
    "run": _run,
    "create_run_token": _create_run_token,
}


class JobError(Exception):
    """The job document itself is unusable (exit status 2)."""


def _decoded_calls(job: Mapping[str, Any]) -> list[tuple[Operation, dict[str, Any]]]:
    calls = job.get("calls")
    if not isinstance(calls, list):
        raise JobError("the job has no 'calls' list")
    decoded = []
    for index, call in enumerate(calls):
        if not isinstance(call, dict) or call.get("op") not in OPERATIONS:
            raise JobError(f"call {index} has no known 'op' (known: {sorted(OPERATIONS)})")
        args = call.get("args", {})
        if not isinstance(args, dict):
            raise JobError(f"call {index}: 'args' must be an object")
        try:
            decoded.append((OPERATIONS[call["op"]], {name: decode_value(arg) for name, arg in args.items()}))
        except ValueError as error:
            raise JobError(f"call {index}: {error}") from None
    return decoded


def _perform(sdk: SdkModule, operation: Operation, args: Mapping[str, Any]) -> JsonObject:
    try:
        value = operation(sdk, args)
        return {"ok": True, "value": encode_value(value)}
    except Exception as error:  # noqa: BLE001 - every SDK failure is a result the caller asserts on
        return {
            "ok": False,
            "error": {
                "type": type(error).__name__,
                "module": type(error).__module__,
                "message": str(error),
            },
        }


def _init_sdk(job: Mapping[str, Any]) -> SdkModule:
    init = job.get("init")
    if not isinstance(init, dict) or not all(isinstance(init.get(k), str) for k in ("app_id", "api_key")):
        raise JobError("the job's 'init' needs string 'app_id' and 'api_key'")
    import evervault  # the published SDK of this venv; imported late so the codec needs no SDK

    evervault.init(init["app_id"], init["api_key"], curve=init.get("curve", "SECP256K1"))
    return evervault


def run_job(job: Mapping[str, Any]) -> JsonObject:
    if job.get("protocol") != PROTOCOL_VERSION:
        raise JobError(f"unsupported protocol {job.get('protocol')!r}; expected {PROTOCOL_VERSION}")
    calls = _decoded_calls(job)
    sdk = _init_sdk(job)
    return {"protocol": PROTOCOL_VERSION, "results": [_perform(sdk, op, args) for op, args in calls]}


def main(stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    previous_stdout, sys.stdout = sys.stdout, stderr  # keep stray prints (SDK warnings) off stdout
    try:
        job = json.load(stdin)
        if not isinstance(job, dict):
            raise JobError("the job must be a JSON object")
        result = run_job(job)
    except (JobError, json.JSONDecodeError) as error:
        stderr.write(f"published_sdk_driver: unusable job: {error}\n")
        return 2
    finally:
        sys.stdout = previous_stdout
    json.dump(result, stdout)
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.stdin, sys.__stdout__ or sys.stdout, sys.stderr))
