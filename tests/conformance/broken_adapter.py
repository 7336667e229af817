"""A deliberately broken SDK adapter: this repository's SDK with four planted defects.

* a wrong version tag: "hello" comes back tagged as the other curve's version;
* a wrong datatype: integers are encrypted as strings (no ``number`` segment);
* a truncated file: files of 1000 bytes or more lose their last 10 bytes (CRC mismatch);
* a reused key: ``False`` comes back as the ciphertext made for ``True`` (same ephemeral
  key and IV used twice, which in AES-GCM leaks the XOR of the plaintexts);
* a wrong auth scheme: ``decrypt`` sends an ``Api-Key`` header instead of Basic;
* an unexpected request: ``run`` first fetches the relay configuration.

Everything else is correct, so each defect shows up as exactly the failure it should.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from typing import Any

import evervault

CURVES = {"secp256k1": "SECP256K1", "p256": "SECP256R1"}
OTHER_TAG = {"RFVC": "Tk9D", "Tk9D": "RFVC", "S0lS": "QkTC", "QkTC": "S0lS"}


def from_wire(node: Any) -> Any:
    if isinstance(node, list):
        return [from_wire(item) for item in node]
    if isinstance(node, dict):
        if list(node) == ["$bytes"]:
            return base64.b64decode(node["$bytes"])
        if list(node) == ["$int"]:
            return int(node["$int"])
        return {key: from_wire(item) for key, item in node.items()}
    return node


def to_wire(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    return value


class BrokenAdapter:
    def __init__(self) -> None:
        self.client: Any = None
        self.true_ciphertext: str | None = None

    def configure(self, args: dict[str, Any]) -> Any:
        self.api_url, self.api_key = args["api_url"], args["api_key"]
        self.client = evervault.Client(
            args["app_id"], args["api_key"], base_url=args["api_url"], curve=CURVES[args["curve"]]
        )
        return {"sdk": "broken-adapter", "version": "0", "language": "python", "capabilities": []}

    def encrypt(self, args: dict[str, Any]) -> Any:
        value, role = from_wire(args["value"]), args.get("role")
        if value is False and self.true_ciphertext is not None:
            return self.true_ciphertext  # reused key and IV
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # wrong datatype
        encrypted = self.client.encrypt(value, role)
        if value is True and role is None:
            self.true_ciphertext = encrypted
        if value == "hello":
            tag = encrypted.split(":")[1]
            encrypted = encrypted.replace(f":{tag}:", f":{OTHER_TAG[tag]}:", 1)  # wrong tag
        return encrypted

    def encrypt_file(self, args: dict[str, Any]) -> Any:
        data = from_wire(args["data"])
        encrypted = self.client.encrypt(data)
        if len(data) >= 1000:
            encrypted = encrypted[:-10]  # truncated
        return encrypted

    def request(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps({"data": body}).encode()
        headers = {"Api-Key": self.api_key, "Content-Type": "application/json"}
        request = urllib.request.Request(self.api_url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"HTTP {error.code}") from None

    def decrypt(self, args: dict[str, Any]) -> Any:
        return self.request("decrypt", args["value"])["data"]  # Api-Key: the wrong scheme

    def create_client_side_decrypt_token(self, args: dict[str, Any]) -> Any:
        return self.client.create_client_side_decrypt_token(from_wire(args["payload"]))

    def create_run_token(self, args: dict[str, Any]) -> Any:
        return self.client.create_run_token(args["function_name"], from_wire(args["payload"]))

    def run(self, args: dict[str, Any]) -> Any:
        self.request("v2/relay-outbound")  # not part of a run
        return self.client.run(args["function_name"], from_wire(args["payload"]))


def main() -> int:
    adapter = BrokenAdapter()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": True, "result": to_wire(getattr(adapter, request["op"])(request.get("args", {})))}
        except Exception as error:  # noqa: BLE001 - reported to the suite
            answer = {"ok": False, "error": {"type": type(error).__name__, "message": str(error)}}
        answer["id"] = request["id"]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
