"""``kill -9`` of ``evervault-local serve`` while it writes its data directory.

Writer threads mint API keys and replace relay destinations (both saved to state.json)
and create client-side tokens, while the test SIGKILLs the server at a random moment.
Each restart on the same ``--data-dir`` must load, keep the app, decrypt every value
encrypted in any earlier cycle, and still accept every API key whose creation was
acknowledged (a 201 means the key was on disk).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.local.serve_process import Served, serve

CYCLES = int(os.environ.get("EV_KILL_CYCLES", "4"))


class Writers:
    """Threads that write to the emulator until it dies; they record what was acknowledged."""

    def __init__(self, served: Served, count: int = 3) -> None:
        url = served.line["api_url"].rstrip("/")
        self.host, self.port = url.split("//", 1)[1].split(":")
        self.admin_key = served.line["api_key"]
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
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
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


def decrypt_with(served: Served, api_key: str, values: list[Any]) -> Any:
    from evervault.services.client import Client

    with Client(served.line["app_id"], api_key, base_url=served.line["api_url"]) as client:
        return client.decrypt(values)


def test_kill_9_during_writes_leaves_a_data_dir_that_loads_and_decrypts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(7)
    originals: list[Any] = []
    ciphertexts: list[Any] = []
    acknowledged: list[str] = []
    app_id = None
    total_writes = 0
    for cycle in range(CYCLES + 1):
        with serve("--data-dir", str(data_dir), "--no-relay") as served:
            app_id = app_id or served.line["app_id"]
            assert served.line["app_id"] == app_id
            if ciphertexts:
                assert decrypt_with(served, served.line["api_key"], ciphertexts) == originals
                # Every key acknowledged before a kill survived it (spot-check the newest ones).
                for key in acknowledged[-5:]:
                    assert decrypt_with(served, key, ciphertexts[-1:]) == originals[-1:]
            with served.client() as client:
                for index in range(20):
                    value = {"cycle": cycle, "index": index, "card": f"4242-{rng.randrange(10**6)}"}
                    originals.append(value)
                    ciphertexts.append(client.encrypt(value))
            if cycle == CYCLES:
                break
            writers = Writers(served)
            time.sleep(rng.uniform(0.1, 0.6))
            served.process.send_signal(signal.SIGKILL)
            served.process.wait(30)
            writers.join()
            acknowledged += writers.keys
            total_writes += writers.writes
    assert total_writes > 0 and acknowledged
    leftovers = [path.name for path in data_dir.iterdir() if path.name.startswith(".")]
    assert not leftovers, f"temporary files left in the data directory: {leftovers}"
