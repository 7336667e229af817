"""One conformance run: an emulator, the adapter driven over the corpus per curve, the probes.

Each curve gets its own adapter process. Probes that need a cold SDK (no key yet)
re-send ``configure``, which makes the adapter replace its SDK client with a new one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evervault.domain.curves import Curve
from evervault.local.conformance import corpus
from evervault.local.conformance.codec import CodecError, from_wire, to_wire
from evervault.local.conformance.emulator import (
    EmulatorAccess,
    RecordedRequest,
    RecordingEmulator,
    RequestRecorder,
)
from evervault.local.conformance.judge import Judge, Verdict, same_value
from evervault.local.conformance.process import AdapterError, AdapterProcess, Reply
from evervault.local.conformance.report import SdkReport, Status

CURVE_NAMES = {"secp256k1": Curve.SECP256K1, "p256": Curve.P256}
ECHO_FUNCTION = "echo"
UNSUPPORTED = "unsupported"  # the error type an adapter gives for an optional operation it lacks

# Which endpoints each operation may call, and with which credential schemes.
_KEY_FETCH = ("GET", "/cages/key", ("Api-Key",))
_ALLOWED: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "encrypt": [_KEY_FETCH],
    "encrypt_file": [_KEY_FETCH],
    "encrypt_many": [_KEY_FETCH],
    "decrypt": [_KEY_FETCH, ("POST", "/decrypt", ("Basic",))],
    "create_client_side_decrypt_token": [_KEY_FETCH, ("POST", "/client-side-tokens", ("Basic", "Api-Key"))],
    "create_run_token": [_KEY_FETCH, ("POST", f"/v2/functions/{ECHO_FUNCTION}/run-token", ("Api-Key",))],
    "run": [
        _KEY_FETCH,
        ("POST", f"/functions/{ECHO_FUNCTION}/runs", ("Basic",)),
        ("POST", f"/run/{ECHO_FUNCTION}", ("Api-Key",)),
    ],
}


@dataclass(frozen=True)
class SuiteOptions:
    command: str
    curves: tuple[str, ...] = ("secp256k1", "p256")
    timeout_seconds: float = 120.0
    cwd: str | Path | None = None
    env: Mapping[str, str] | None = None
    rotation_wait_seconds: float = 0.0  # > 0: also probe concurrent encrypts across a key rotation


def run_suite(options: SuiteOptions) -> SdkReport:
    """Run every check of the suite against one adapter command."""
    report = SdkReport(command=options.command, curves=list(options.curves))
    emulator = RecordingEmulator()
    with emulator as access:
        for curve_name in options.curves:
            CurveRun(options, access, emulator.recorder, curve_name, report).execute()
    return report


class CurveRun:
    """The corpus and the probes on one curve."""

    def __init__(
        self,
        options: SuiteOptions,
        access: EmulatorAccess,
        recorder: RequestRecorder,
        curve_name: str,
        report: SdkReport,
    ) -> None:
        self.options = options
        self.access = access
        self.curve = CURVE_NAMES[curve_name]
        self.curve_name = curve_name
        self.report = report
        self.recorder = recorder
        self.judge = Judge(access.private_keys, self.curve)
        self.capabilities: set[str] = set()

    # --- plumbing -------------------------------------------------------------------------

    def add(self, check: str, status: Status, detail: str | None = None) -> None:
        self.report.add(check, self.curve_name, status, detail)

    def add_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        for verdict in verdicts:
            self.add(verdict.check, verdict.status, verdict.detail)

    def start_adapter(self) -> AdapterProcess | None:
        try:
            adapter = AdapterProcess(
                self.options.command,
                env=self.options.env,
                cwd=self.options.cwd,
                timeout_seconds=self.options.timeout_seconds,
            )
        except AdapterError as error:
            self.add("protocol", Status.FAIL, str(error))
            return None
        if not self.configure(adapter):
            adapter.stop()
            return None
        return adapter

    def configure(self, adapter: AdapterProcess) -> bool:
        """(Re)configure: the adapter replaces its SDK client with a new, cold one."""
        try:
            reply = adapter.request(
                "configure",
                {
                    "api_url": self.access.api_url,
                    "app_id": self.access.app_id,
                    "api_key": self.access.api_key,
                    "curve": self.curve_name,
                },
            )
        except AdapterError as error:
            self.add("protocol", Status.FAIL, str(error))
            return False
        if not reply.ok or not isinstance(reply.result, dict):
            self.add("protocol", Status.FAIL, f"configure failed: {reply.describe_error()}")
            return False
        self._identify(reply.result)
        self.add("protocol", Status.PASS)
        return True

    def _identify(self, hello: Mapping[str, Any]) -> None:
        self.report.sdk = str(hello.get("sdk", self.report.sdk))
        self.report.version = str(hello.get("version", self.report.version))
        self.report.language = str(hello.get("language", self.report.language))
        capabilities = hello.get("capabilities", [])
        self.capabilities = {str(c) for c in capabilities} if isinstance(capabilities, list) else set()

    def call(
        self, adapter: AdapterProcess, op: str, args: Mapping[str, Any], *, probe: str | None = None
    ) -> tuple[Reply, list[RecordedRequest]]:
        """Send one request; returns the reply and the API requests the SDK made meanwhile.

        Those requests are checked (endpoint, credential scheme, accepted); during a
        ``probe`` a problem is a finding of that probe rather than a failure.
        """
        start = len(self.recorder)
        reply = adapter.request(op, args)
        requests = self.recorder.since(start)
        for request in requests:
            check = "api.key-fetch" if request.path == "/cages/key" else _api_check(op)
            problem = _request_problem(op, request)
            if problem is not None:
                self.add(probe or check, Status.FINDING if probe else Status.FAIL, problem)
            elif check == "api.key-fetch" and probe is None:
                self.add(check, Status.PASS)
        return reply, requests

    # --- the run ----------------------------------------------------------------------------

    def execute(self) -> None:
        adapter = self.start_adapter()
        if adapter is None:
            return
        with adapter:
            try:
                self.corpus_and_api(adapter)
                self.probes(adapter)
            except AdapterError as error:
                self.add("protocol", Status.FAIL, str(error))

    def corpus_and_api(self, adapter: AdapterProcess) -> None:
        produced = self.encrypt_corpus(adapter)
        files = self.encrypt_files(adapter)
        self.api_decrypt(adapter, produced, files)
        self.api_client_side_token(adapter, produced)
        self.api_run_token(adapter, produced)
        self.api_run(adapter, produced)

    def encrypt_corpus(self, adapter: AdapterProcess) -> dict[str, tuple[Any, Any]]:
        """Encrypt every case; returns ``name -> (original, produced)`` of the cleanly judged ones."""
        clean: dict[str, tuple[Any, Any]] = {}
        for case in corpus.value_cases():
            args = {"value": to_wire(case.value), "role": case.role}
            reply, _requests = self.call(adapter, "encrypt", args)
            if not reply.ok:
                if not (case.optional and reply.error_type == UNSUPPORTED):
                    detail = f"{case.name}: the SDK refused it: {reply.describe_error()}"
                    self.add("encrypt.round-trip", Status.FAIL, detail)
                continue
            produced = self._decoded(reply.result, f"encrypt {case.name}")
            verdicts = self.judge.judge_value(case.name, case.value, produced, case.role)
            self.add_verdicts(verdicts)
            if all(v.status is Status.PASS for v in verdicts) and not isinstance(case.value, set):
                clean[case.name] = (case.value, produced)
        return clean

    def encrypt_files(self, adapter: AdapterProcess) -> dict[str, tuple[bytes, bytes]]:
        clean: dict[str, tuple[bytes, bytes]] = {}
        for size in corpus.FILE_SIZES:
            name = f"file.{size}B"
            data = corpus.file_bytes(size)
            reply, _requests = self.call(adapter, "encrypt_file", {"data": to_wire(data)})
            if not reply.ok:
                self.add("file.envelope", Status.FAIL, f"{name}: {reply.describe_error()}")
                continue
            produced = self._decoded(reply.result, f"encrypt_file {name}")
            verdicts = self.judge.judge_file(name, data, produced)
            self.add_verdicts(verdicts)
            if all(v.status is Status.PASS for v in verdicts) and isinstance(produced, bytes):
                clean[name] = (data, produced)
        return clean

    def _decoded(self, result: Any, what: str) -> Any:
        try:
            return from_wire(result)
        except CodecError as error:
            self.add("protocol", Status.FAIL, f"{what}: {error}")
            return None

    # --- API operations through the SDK -----------------------------------------------------

    def api_decrypt(
        self,
        adapter: AdapterProcess,
        produced: dict[str, tuple[Any, Any]],
        files: dict[str, tuple[bytes, bytes]],
    ) -> None:
        if not produced:
            self.add("api.decrypt", Status.FAIL, "no cleanly encrypted value to decrypt")
            return
        document = {name: output for name, (_original, output) in produced.items()}
        expected = {name: original for name, (original, _output) in produced.items()}
        reply, _ = self.call(adapter, "decrypt", {"value": to_wire(document)})
        self._judge_api_result(
            "api.decrypt",
            reply,
            lambda result: same_value(expected, result),
            "decrypting the corpus document",
        )
        if files:
            name = max(files, key=lambda n: len(files[n][0]) if len(files[n][0]) <= 1024 * 1024 else -1)
            original, encrypted = files[name]
            reply, _ = self.call(adapter, "decrypt", {"value": to_wire(encrypted)})
            self._judge_api_result(
                "api.decrypt", reply, lambda result: result == original, f"decrypting {name}"
            )

    def _judge_api_result(self, check: str, reply: Reply, accept: Callable[[Any], bool], what: str) -> Any:
        if not reply.ok:
            self.add(check, Status.FAIL, f"{what}: {reply.describe_error()}")
            return None
        result = self._decoded(reply.result, what)
        ok = accept(result)
        self.add(
            check, Status.PASS if ok else Status.FAIL, None if ok else f"{what}: unexpected {result!r:.120}"
        )
        return result if ok else None

    def api_client_side_token(self, adapter: AdapterProcess, produced: dict[str, tuple[Any, Any]]) -> None:
        original, payload = _first_document(produced)
        reply, _ = self.call(adapter, "create_client_side_decrypt_token", {"payload": to_wire(payload)})
        token = self._judge_api_result("api.client-side-token", reply, _has_token, "creating a token")
        if token is None:
            return
        status, body = self._api("POST", "decrypt", {"Authorization": f"Token {token['token']}"}, payload)
        ok = status == 200 and same_value(original, body)
        self.add(
            "api.client-side-token",
            Status.PASS if ok else Status.FAIL,
            None if ok else f"the token does not decrypt its payload ({status} {body!r:.120})",
        )

    def api_run_token(self, adapter: AdapterProcess, produced: dict[str, tuple[Any, Any]]) -> None:
        original, payload = _first_document(produced)
        reply, _ = self.call(
            adapter, "create_run_token", {"function_name": ECHO_FUNCTION, "payload": to_wire(payload)}
        )
        token = self._judge_api_result("api.run-token", reply, _has_token, "creating a run token")
        if token is None:
            return
        status, body = self._api(
            "POST",
            f"functions/{ECHO_FUNCTION}/runs",
            {"Authorization": f"RunToken {token['token']}"},
            {"payload": payload},
        )
        ok = status == 200 and isinstance(body, dict) and same_value(original, body.get("result"))
        self.add(
            "api.run-token",
            Status.PASS if ok else Status.FAIL,
            None if ok else f"the run token does not run its payload ({status} {body!r:.120})",
        )

    def api_run(self, adapter: AdapterProcess, produced: dict[str, tuple[Any, Any]]) -> None:
        original, payload = _first_document(produced)
        reply, _ = self.call(adapter, "run", {"function_name": ECHO_FUNCTION, "payload": to_wire(payload)})
        self._judge_api_result(
            "api.run", reply, lambda result: _ran(original, result), f"running {ECHO_FUNCTION!r}"
        )

    def _api(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """The suite's own call to the emulator (loopback), e.g. to redeem a token."""
        request = urllib.request.Request(  # noqa: S310 - the emulator's own http URL
            self.access.api_url + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_seconds) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    # --- probes of known defects (findings) ---------------------------------------------------

    def probes(self, adapter: AdapterProcess) -> None:
        self.probe_values(adapter, "probe.big-integers", corpus.BIG_INTEGERS)
        self.probe_values(adapter, "probe.whitespace", corpus.EDGE_WHITESPACE)
        self.probe_token_expiry(adapter)
        # These need a cold SDK (no key yet): each starts with a new `configure`.
        self.probe_role_key_reuse(adapter)
        self.probe_key_race(adapter)
        self.probe_rotation_race(adapter)

    def probe_role_key_reuse(self, adapter: AdapterProcess) -> None:
        """A cold SDK encrypts without a role then with one (and, cold again, the reverse) at once."""
        for first_role, second_role in ((None, corpus.ROLE), (corpus.ROLE, None)):
            if not self.configure(adapter):
                return
            judge = Judge(self.access.private_keys, self.curve)
            verdicts: list[Verdict] = []
            for index, role in enumerate((first_role, second_role)):
                name = f"probe-{index}"
                reply, _ = self.call(
                    adapter, "encrypt", {"value": name, "role": role}, probe="probe.role-key-reuse"
                )
                if not reply.ok:
                    verdicts.append(Verdict("probe.role-key-reuse", Status.FINDING, reply.describe_error()))
                    continue
                verdicts += judge.judge_value(name, name, self._decoded(reply.result, name), role)
            order = " then ".join("a role" if role else "no role" for role in (first_role, second_role))
            self._probe_outcome("probe.role-key-reuse", verdicts, f"{order} in one key window")

    def probe_key_race(self, adapter: AdapterProcess) -> None:
        """Cold SDKs run many encrypts concurrently (only adapters with ``encrypt_many``)."""
        if "encrypt_many" not in self.capabilities:
            return  # skip: the adapter cannot run concurrent encrypts
        verdicts: list[Verdict] = []
        for _round in range(corpus.RACE_ROUNDS):
            if not self.configure(adapter):
                return
            verdicts += self._race_round(adapter, "probe.key-race")
        self._race_outcome("probe.key-race", verdicts, "cold SDK")

    def probe_rotation_race(self, adapter: AdapterProcess) -> None:
        """A warm SDK waits past its key window, then runs many encrypts concurrently (opt-in: slow)."""
        wait = self.options.rotation_wait_seconds
        if wait <= 0 or "encrypt_many" not in self.capabilities or not self.configure(adapter):
            return  # skip
        reply, _ = self.call(
            adapter, "encrypt", {"value": "warm-up", "role": None}, probe="probe.rotation-race"
        )
        if not reply.ok:
            self.add(
                "probe.rotation-race", Status.FINDING, f"warm-up encrypt failed: {reply.describe_error()}"
            )
            return
        time.sleep(wait)
        verdicts = self._race_round(adapter, "probe.rotation-race")
        self._race_outcome("probe.rotation-race", verdicts, f"after {wait:g} s, when the key rotates")

    def _race_outcome(self, check: str, verdicts: list[Verdict], when: str) -> None:
        broken = sum(v.status is not Status.PASS and v.check == "encrypt.round-trip" for v in verdicts)
        others = [v for v in verdicts if v.status is not Status.PASS and v.check != "encrypt.round-trip"]
        total = sum(v.check == "encrypt.grammar" for v in verdicts)
        if broken:
            self.add(
                check,
                Status.FINDING,
                f"{broken} of {total} values encrypted concurrently ({corpus.RACE_CONCURRENCY} at a time, "
                f"{when}) cannot be decrypted with the app's key: each is labelled with one ephemeral "
                "key but was encrypted with a key derived for another (shared key state raced)",
            )
        if others or not broken:
            self._probe_outcome(check, others, "concurrent encrypts")

    def _race_round(self, adapter: AdapterProcess, check: str) -> list[Verdict]:
        values = [f"race-{index}" for index in range(corpus.RACE_VALUES)]
        args = {"values": values, "role": None, "concurrency": corpus.RACE_CONCURRENCY}
        reply, _ = self.call(adapter, "encrypt_many", args, probe="probe.key-race")
        produced = self._decoded(reply.result, "encrypt_many") if reply.ok else None
        if not isinstance(produced, list) or len(produced) != len(values):
            return [
                Verdict("probe.key-race", Status.FINDING, f"encrypt_many failed: {reply.describe_error()}")
            ]
        judge = Judge(self.access.private_keys, self.curve)
        for item in produced:  # every ephemeral key of the batch, so a raced value can be diagnosed
            if isinstance(item, str):
                with contextlib.suppress(ValueError, binascii.Error):
                    judge.batch_keys.add(_ephemeral_key(item))
        verdicts: list[Verdict] = []
        for value, output in zip(values, produced, strict=True):
            verdicts += judge.judge_value(value, value, output, None)
        return verdicts

    def probe_values(self, adapter: AdapterProcess, check: str, cases: list[tuple[str, Any]]) -> None:
        judge = Judge(self.access.private_keys, self.curve)
        verdicts: list[Verdict] = []
        for name, value in cases:
            reply, _ = self.call(adapter, "encrypt", {"value": to_wire(value), "role": None}, probe=check)
            if not reply.ok:
                verdicts.append(Verdict(check, Status.FINDING, f"{name}: {reply.describe_error()}"))
                continue
            verdicts += judge.judge_value(name, value, self._decoded(reply.result, name), None)
        self._probe_outcome(check, verdicts, "")

    def probe_token_expiry(self, adapter: AdapterProcess) -> None:
        expiry = time.time() + 300
        args = {"payload": {"probe": "expiry"}, "expiry": expiry}
        reply, requests = self.call(
            adapter, "create_client_side_decrypt_token", args, probe="probe.token-expiry"
        )
        if not reply.ok:
            sent = (
                "sent no request"
                if not requests
                else "its request was answered " + ", ".join(str(request.status) for request in requests)
            )
            self.add("probe.token-expiry", Status.FINDING, f"refused ({sent}): {reply.describe_error()}")
            return
        token = self._decoded(reply.result, "create_client_side_decrypt_token")
        granted = token.get("expiry") if isinstance(token, dict) else None
        granted_s = _epoch_seconds(granted)
        ok = granted_s is not None and abs(granted_s - expiry) < 5
        detail = f"asked for expiry {int(expiry * 1000)} ms, the token expires at {granted!r}"
        self.add("probe.token-expiry", Status.PASS if ok else Status.FINDING, None if ok else detail)

    def _probe_outcome(self, check: str, verdicts: list[Verdict], context: str) -> None:
        problems = [v for v in verdicts if v.status is not Status.PASS]
        if not problems:
            self.add(check, Status.PASS)
            return
        for problem in problems:
            detail = f"{context}: {problem.detail}" if context else problem.detail
            self.add(check, Status.FINDING, detail)


def _request_problem(op: str, request: RecordedRequest) -> str | None:
    """What is wrong with a request an SDK made during ``op`` (``None``: nothing)."""
    allowed = _ALLOWED.get(op, [_KEY_FETCH])
    match = next((a for a in allowed if a[0] == request.method and a[1] == request.path), None)
    if match is None:
        return f"{op} made an unexpected request: {request.describe()}"
    if request.scheme not in match[2]:
        return f"{request.describe()}: expected {' or '.join(match[2])} authentication"
    if not 200 <= request.status < 300:
        return f"the emulator refused {request.describe()}"
    return None


def _api_check(op: str) -> str:
    return {
        "decrypt": "api.decrypt",
        "create_client_side_decrypt_token": "api.client-side-token",
        "create_run_token": "api.run-token",
        "run": "api.run",
    }.get(op, "api.key-fetch")


def _first_document(produced: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    """A small encrypted document for token and run calls: a few clean corpus values."""
    names = [name for name in produced if not name.startswith("string.long")][:6]
    return ({name: produced[name][0] for name in names}, {name: produced[name][1] for name in names})


def _has_token(result: Any) -> bool:
    return isinstance(result, dict) and isinstance(result.get("token"), str) and bool(result["token"])


def _ran(original: Any, result: Any) -> bool:
    """A run result: the run body ``{"status": "success", "result": ...}`` or the bare result."""
    if isinstance(result, dict) and result.get("status") == "success" and "result" in result:
        return same_value(original, result["result"])
    return same_value(original, result)


def _ephemeral_key(text: str) -> bytes:
    segments = text.split(":")
    if len(segments) < 6:
        raise ValueError("not an ev-string")
    return base64.b64decode(segments[-3] + "=" * (-len(segments[-3]) % 4))


def _epoch_seconds(value: Any) -> float | None:
    """An expiry as epoch seconds, whether sent as milliseconds, seconds or an ISO date."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000 if value > 10**11 else float(value)
    if isinstance(value, str):
        try:
            from datetime import datetime

            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
