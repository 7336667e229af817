"""``evervault-local demo``: the README's SDK calls, end to end, against a local emulator.

It starts an emulator in this process (fresh temporary data directory), points this
SDK at it exactly as an application would (``EV_API_URL``), and runs each step of the
README, checking every result: init, encrypt, run a Function, decrypt, a client-side
token used the way a browser uses it, and a single-use run token. Exit status 0 when
every step checks out, 1 otherwise (with the failing step named).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import urllib3

from evervault import api as evervault  # the module-level API, as an application calls it
from evervault.domain.errors import EvervaultError
from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions

EXIT_OK = 0
EXIT_FAILED = 1
SAMPLE = {"name": "Claude", "age": 3, "admin": True}


class DemoCheckError(EvervaultError):
    """A demo step produced something other than what the README promises."""


def run_demo(out: TextIO | None = None) -> int:
    """Run every step, printing each; 0 on success, 1 on the first failing step."""
    stream = out or sys.stdout
    emulator = BackgroundEmulator(EmulatorOptions())
    step = "start the emulator"
    try:
        info = emulator.start()
        _say(stream, step, f"listening at {info.api_url} (app {info.app_id}, data dir {info.data_dir})")
        for step, action in _steps(info):
            _say(stream, step, action())
    except Exception as error:  # noqa: BLE001 - any failure ends the demo with the step named
        print(f"FAILED at step '{step}': {type(error).__name__}: {error}", file=stream, flush=True)
        return EXIT_FAILED
    finally:
        emulator.stop()  # also deletes the temporary data directory with the demo app's keys
    print("Demo completed: every step checked out.", file=stream, flush=True)
    return EXIT_OK


def _say(stream: TextIO, step: str, detail: str) -> None:
    print(f"[{step}] {detail}", file=stream, flush=True)


def _steps(info: EmulatorInfo) -> list[tuple[str, Callable[[], str]]]:
    flow = _ReadmeFlow(info)
    return [
        ("init", flow.init),
        ("encrypt", flow.encrypt),
        ("run a Function", flow.run_function),
        ("decrypt", flow.decrypt),
        ("client-side token", flow.client_side_token),
        ("run token", flow.run_token),
    ]


class _ReadmeFlow:
    """The README's calls, in order, each returning a line to print."""

    def __init__(self, info: EmulatorInfo) -> None:
        self.info = info
        self.http = urllib3.PoolManager()
        self.encrypted: Any = None

    def init(self) -> str:
        # Exactly what an application does: the SDK reads the API URL from the environment.
        os.environ["EV_API_URL"] = self.info.api_url
        os.environ["EV_CERT_HOSTNAME"] = self.info.ca_url
        evervault.init(self.info.app_id, self.info.api_key)
        return f"evervault.init({self.info.app_id!r}, <api key>) with EV_API_URL={self.info.api_url}"

    def encrypt(self) -> str:
        self.encrypted = evervault.encrypt(SAMPLE)
        _check(
            isinstance(self.encrypted, dict) and set(self.encrypted) == set(SAMPLE), "encrypt kept the shape"
        )
        _check(all(str(v).startswith("ev:") for v in self.encrypted.values()), "every value encrypted")
        return f"evervault.encrypt({SAMPLE}) -> {json.dumps(self.encrypted)[:160]}..."

    def run_function(self) -> str:
        result = evervault.run("hello", self.encrypted)
        _check(result.get("status") == "success", "the run succeeded")
        # 'hello' answers JSON types only: 'number' and 'boolean' prove it got decrypted values.
        fields = result["result"]["fields"]
        expected = {"admin": "boolean", "age": "number", "name": "string"}
        _check(fields == expected, "the Function saw the decrypted values")
        return f"evervault.run('hello', encrypted) -> {json.dumps(result['result'])}"

    def decrypt(self) -> str:
        decrypted = evervault.decrypt(self.encrypted)
        _check(decrypted == SAMPLE, "decrypt(encrypt(x)) == x with types kept")
        return f"evervault.decrypt(encrypted) -> {decrypted}"

    def client_side_token(self) -> str:
        token = evervault.create_client_side_decrypt_token(self.encrypted)
        # A browser decrypts with the token alone: 'Authorization: Token <t>', bare payload.
        status, body = self._post("decrypt", {"Authorization": f"Token {token['token']}"}, self.encrypted)
        _check(status == 200 and body == SAMPLE, "the token decrypts its payload")
        other = evervault.encrypt({"name": "someone else"})
        status, _ = self._post("decrypt", {"Authorization": f"Token {token['token']}"}, other)
        _check(status == 403, "the token refuses any other payload")
        return f"token {token['id']} (expires {token['expiry']}) decrypted its payload and refused another"

    def run_token(self) -> str:
        token = evervault.create_run_token("hello", self.encrypted)
        headers = {"Authorization": f"RunToken {token['token']}"}
        status, body = self._post("functions/hello/runs", headers, {"payload": self.encrypted})
        _check(status == 200 and body.get("status") == "success", "the run token ran the Function")
        status, _ = self._post("functions/hello/runs", headers, {"payload": self.encrypted})
        _check(status == 401, "a run token is single use")
        return f"run token ran 'hello' once -> {json.dumps(body['result'])}; a second use was refused"

    def _post(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        response = self.http.request(
            "POST",
            self.info.api_url + path,
            body=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", **headers},
            timeout=30.0,
            retries=False,
        )
        return response.status, json.loads(response.data.decode("utf-8"))


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoCheckError(f"check failed: {what}")
