"""``kill -9`` of the emulator while it writes its data directory, then restart and check.

Writer threads mint API keys and replace relay destinations (both saved to state.json)
and create client-side tokens; the emulator is SIGKILLed at a random moment. Each
restart on the same ``--data-dir`` must load, keep the app, decrypt every value encrypted
in any earlier cycle, and accept every API key whose creation was acknowledged (a 201
means the key was on disk). No temporary file may stay behind.
"""

from __future__ import annotations

import http.client
import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardening.emulator import ServedEmulator, served


@dataclass
class KillResult:
    cycles: int = 0
    writes: int = 0
    acknowledged_keys: int = 0
    keys_lost: int = 0
    values_checked: int = 0
    values_lost: int = 0
    leftovers: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.problems or self.keys_lost or self.values_lost or self.leftovers)


class Writers:
    """Threads that write to the emulator until it dies; they record what was acknowledged."""

    def __init__(self, emulator: ServedEmulator, count: int = 3) -> None:
        self.host, port = emulator.api_url.rstrip("/").split("//", 1)[1].split(":")
        self.port = int(port)
        self.admin_key = emulator.api_key
        self.keys: list[str] = []
        self.writes = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(index,)) for index in range(count)]
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)

    def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            headers = {"Api-Key": self.admin_key, "Content-Type": "application/json"}
            connection.request(method, path, json.dumps(body), headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def _write(self, index: int) -> None:
        step = 0
        while True:
            step += 1
            try:
                if index == 0:
                    status, answer = self._request("POST", "/_local/api-keys", {"permissions": ["decrypt"]})
                    if status == 201:
                        with self._lock:
                            self.keys.append(answer["apiKey"])
                elif index == 1:
                    domains = [f"d{n}.example.com" for n in range(step % 40 + 1)]
                    self._request("PUT", "/_local/relay-destinations", {"destinations": domains})
                else:
                    self._request("POST", "/client-side-tokens", {"payload": {"n": step}})
            except (OSError, http.client.HTTPException, ValueError):
                return  # the server is gone
            with self._lock:
                self.writes += 1


def _check(
    emulator: ServedEmulator,
    result: KillResult,
    originals: list[Any],
    ciphertexts: list[Any],
    keys: list[str],
) -> None:
    with emulator.client() as client:
        decrypted = client.decrypt(ciphertexts)
    result.values_checked += len(ciphertexts)
    result.values_lost += sum(1 for a, b in zip(originals, decrypted, strict=True) if a != b)
    for key in keys:
        try:
            with emulator.client(key) as client:
                if client.decrypt(ciphertexts[-1:]) != originals[-1:]:
                    result.keys_lost += 1
        except Exception:  # an acknowledged key that no longer authenticates
            result.keys_lost += 1


def run_kill_cycles(
    data_dir: Path, cycles: int, seed: int = 7, keys_checked_per_cycle: int = 5
) -> KillResult:
    rng = random.Random(seed)
    result = KillResult()
    originals: list[Any] = []
    ciphertexts: list[Any] = []
    acknowledged: list[str] = []
    app_id = None
    for cycle in range(cycles + 1):
        with served(data_dir) as emulator:
            app_id = app_id or emulator.app_id
            if emulator.app_id != app_id:
                result.problems.append(f"cycle {cycle}: the app changed to {emulator.app_id}")
            if ciphertexts:
                _check(emulator, result, originals, ciphertexts, acknowledged[-keys_checked_per_cycle:])
            with emulator.client() as client:
                for index in range(20):
                    value = {"cycle": cycle, "index": index, "card": f"4242-{rng.randrange(10**6)}"}
                    originals.append(value)
                    ciphertexts.append(client.encrypt(value))
            if cycle == cycles:
                break
            writers = Writers(emulator)
            time.sleep(rng.uniform(0.1, 0.6))
            emulator.process.send_signal(signal.SIGKILL)
            emulator.process.wait(30)
            writers.join()
            acknowledged += writers.keys
            result.writes += writers.writes
            result.cycles += 1
    result.acknowledged_keys = len(acknowledged)
    # Temporary files are dot-files named after their target (``.state.json.<random>``);
    # ``.lock`` is the data directory's lock file and belongs there.
    result.leftovers = [
        path.name for path in data_dir.iterdir() if path.name.startswith(".") and path.name != ".lock"
    ]
    return result
