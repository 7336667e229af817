"""Conformance adapter for this repository's SDK (``evervault``, distribution ``evervault-sdk``).

Run by the suite as ``python conformance/adapters/python/adapter.py`` with an interpreter
that has this SDK installed; speaks the JSON-lines protocol of conformance/README.md.
Uses the typed ``evervault.Client`` (no module globals), pointed at the emulator with
``base_url``.
"""

from __future__ import annotations

import base64
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import evervault

CURVES = {"secp256k1": "SECP256K1", "p256": "SECP256R1"}
MAX_SAFE_INTEGER = 2**53 - 1


def to_wire(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else {"$int": str(value)}
    if isinstance(value, dict):
        return {str(key): to_wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return {"$set": [to_wire(item) for item in value]}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def from_wire(node: Any) -> Any:
    if isinstance(node, list):
        return [from_wire(item) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, payload),) = node.items()
        if key == "$bytes":
            return base64.b64decode(payload)
        if key == "$int":
            return int(payload)
        if key == "$set":
            return {from_wire(item) for item in payload}
    return {key: from_wire(item) for key, item in node.items()}


class Adapter:
    def __init__(self) -> None:
        self.client: evervault.Client | None = None

    def sdk(self) -> evervault.Client:
        if self.client is None:
            raise RuntimeError("configure first")
        return self.client

    def configure(self, args: dict[str, Any]) -> Any:
        self.client = evervault.Client(
            args["app_id"], args["api_key"], base_url=args["api_url"], curve=CURVES[args["curve"]]
        )
        return {
            "sdk": "evervault-sdk (this repository)",
            "version": evervault.__version__,
            "language": f"python {sys.version_info.major}.{sys.version_info.minor}",
            "capabilities": ["encrypt_many"],
        }

    def encrypt(self, args: dict[str, Any]) -> Any:
        return self.sdk().encrypt(from_wire(args["value"]), args.get("role"))

    def encrypt_file(self, args: dict[str, Any]) -> Any:
        return self.sdk().encrypt(from_wire(args["data"]))

    def encrypt_many(self, args: dict[str, Any]) -> Any:
        client, role = self.sdk(), args.get("role")
        with ThreadPoolExecutor(max_workers=int(args.get("concurrency", 8))) as pool:
            return list(pool.map(lambda value: client.encrypt(from_wire(value), role), args["values"]))

    def decrypt(self, args: dict[str, Any]) -> Any:
        return self.sdk().decrypt(from_wire(args["value"]))

    def create_client_side_decrypt_token(self, args: dict[str, Any]) -> Any:
        expiry = args.get("expiry")
        when = None if expiry is None else datetime.fromtimestamp(expiry, tz=timezone.utc)
        return self.sdk().create_client_side_decrypt_token(from_wire(args["payload"]), when)

    def create_run_token(self, args: dict[str, Any]) -> Any:
        return self.sdk().create_run_token(args["function_name"], from_wire(args["payload"]))

    def run(self, args: dict[str, Any]) -> Any:
        return self.sdk().run(args["function_name"], from_wire(args["payload"]))


def main() -> int:
    adapter = Adapter()
    answers, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the protocol
    for line in sys.stdin:
        request = json.loads(line)
        try:
            operation = getattr(Adapter, request["op"], None)
            if operation is None or request["op"].startswith("_") or request["op"] == "sdk":
                raise LookupError(f"unknown op {request['op']!r}")
            answer = {"ok": True, "result": to_wire(operation(adapter, request.get("args", {})))}
        except Exception as error:  # noqa: BLE001 - every SDK error is an answer, not a crash
            answer = {"ok": False, "error": {"type": type(error).__name__, "message": str(error)}}
        answer["id"] = request.get("id")
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
