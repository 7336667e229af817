"""Decryption off the event loop: worker processes give the same answers and errors as inline,
``/_local/health`` keeps answering during the largest decrypt, and no worker outlives its emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.errors import ApiError, CiphertextError, EvervaultError
from evervault.local.decrypt_pool import DecryptPool
from evervault.local.runner import BackgroundEmulator, EmulatorOptions
from evervault.local.state import LocalState
from tests.local.serve_process import child_env

GENEROUS = 120.0


class Pools:
    """One event loop, an always-in-a-worker pool and an inline pool over the same keys."""

    def __init__(self, state: LocalState) -> None:
        self.loop = asyncio.new_event_loop()
        # inline limits below zero: every document goes to a worker
        self.workers = DecryptPool(state.private_keys, workers=2, inline_max_keys=-1, inline_max_bytes=-1)
        self.inline = DecryptPool(state.private_keys, workers=0)
        self.private_keys = state.private_keys
        keys = state.private_keys
        self.encryptors = {
            curve: default_encryptor(curve, compressed_point(keys[curve].public_key()), rotation_seconds=0)
            for curve in (Curve.SECP256K1, Curve.P256)
        }

    def both(self, raw: bytes) -> tuple[Any, Any]:
        return tuple(self._outcome(pool, raw) for pool in (self.workers, self.inline))  # type: ignore[return-value]

    def _outcome(self, pool: DecryptPool, raw: bytes) -> Any:
        try:
            return self.loop.run_until_complete(pool.decrypt_json(raw))
        except EvervaultError as error:
            status = error.status_code if isinstance(error, ApiError) else None
            return (type(error).__name__, status, getattr(error, "code", None), error.message)

    def close(self) -> None:
        self.loop.run_until_complete(self.workers.close())
        self.loop.run_until_complete(self.inline.close())
        self.loop.close()


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pools]:
    created = Pools(LocalState.load_or_create(tmp_path_factory.mktemp("pool") / "data"))
    yield created
    created.close()
    assert not multiprocessing.active_children()  # the workers are gone


plain = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
documents = st.recursive(
    plain,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40)
@given(document=documents, curve=st.sampled_from([Curve.SECP256K1, Curve.P256]), as_data=st.booleans())
def test_workers_and_inline_decrypt_to_the_same_answer(
    pools: Pools, document: Any, curve: Curve, as_data: bool
) -> None:
    encrypted = pools.encryptors[curve].encrypt(document)
    raw = json.dumps({"data": encrypted} if as_data else encrypted).encode()
    in_worker, inline = pools.both(raw)
    assert in_worker == inline
    expected = {"data": document} if as_data else document
    assert json.loads(in_worker) == expected


def test_distinct_ephemeral_keys_on_both_curves_decrypt_alike(pools: Pools) -> None:
    values = [pools.encryptors[curve].encrypt(f"v{n}") for n in range(40) for curve in Curve]
    in_worker, inline = pools.both(json.dumps(values).encode())
    assert in_worker == inline
    assert json.loads(in_worker) == [f"v{n}" for n in range(40) for _ in Curve]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe",
        b"NaN",
        b"[" * 200_000 + b"]" * 200_000,
    ],
)
def test_bad_bodies_get_the_same_typed_error_in_a_worker(pools: Pools, raw: bytes) -> None:
    in_worker, inline = pools.both(raw)
    assert in_worker == inline
    assert in_worker[0] in {"BadRequestError", "ApiError", "InvalidArgumentError"}


def test_a_tampered_value_is_the_same_ciphertext_error_in_a_worker(pools: Pools) -> None:
    good = pools.encryptors[Curve.SECP256K1].encrypt("secret")
    parts = good.split(":")
    parts[4] = ("A" if parts[4][0] != "A" else "B") + parts[4][1:]  # the ciphertext segment
    tampered = ":".join(parts)
    in_worker, inline = pools.both(json.dumps({"data": [good, tampered]}).encode())
    assert in_worker == inline
    assert in_worker[0] == "DecryptionError"


def test_a_worker_failure_is_raised_as_the_typed_error(pools: Pools) -> None:
    good = pools.encryptors[Curve.P256].encrypt("secret")
    with pytest.raises(CiphertextError):
        pools.loop.run_until_complete(pools.workers.decrypt_document({"x": [good, good[:-6] + "AAAA:$"]}))
    assert pools.loop.run_until_complete(pools.workers.decrypt_document({"x": [good]})) == {"x": ["secret"]}


# --- through the emulator ----------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=GENEROUS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_health_answers_while_the_largest_decrypt_runs_and_no_worker_outlives_stop() -> None:
    """8,000 values, each from its own session (8,000 key derivations), while health is polled.

    P-256 keeps the set-up short (8,000 encryptions); secp256k1 derivations cost more, so the
    same count on that curve only lengthens the decrypt.
    """
    options = EmulatorOptions(relay_proxy=False, sample_functions=False)
    before = set(multiprocessing.active_children())
    with BackgroundEmulator(options) as info:
        state = LocalState.load_or_create(info.data_dir)
        public = compressed_point(state.private_keys[Curve.P256].public_key())
        encryptor = default_encryptor(Curve.P256, public, rotation_seconds=0)
        count = 8000
        values = [encryptor.encrypt(n) for n in range(count)]
        assert len({v.split(":")[3] for v in values}) == count  # every value has its own ephemeral key
        credentials = base64.b64encode(f"{info.app_id}:{info.api_key}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
        body = json.dumps({"data": values}).encode()

        done = threading.Event()
        result: dict[str, Any] = {}

        def decrypt() -> None:
            try:
                result["reply"] = _post(info.api_url + "decrypt", body, headers)
            finally:
                done.set()

        latencies: list[float] = []
        worker = threading.Thread(target=decrypt)
        worker.start()
        while not done.is_set():
            started = time.perf_counter()
            with urllib.request.urlopen(info.api_url + "_local/health", timeout=GENEROUS) as health:
                assert health.status == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        worker.join()
        status, answer = result["reply"]
        assert status == 200, answer[:500]
        assert json.loads(answer) == {"data": list(range(count))}
        assert set(multiprocessing.active_children()) - before  # the decrypt ran in a worker
    assert set(multiprocessing.active_children()) <= before  # stopped with the emulator
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"\nhealth during an {count}-key decrypt: {len(latencies)} polls, p99 {p99 * 1000:.1f} ms")
    assert len(latencies) >= 20  # the decrypt really ran alongside
    # The target is 100 ms (checked by benchmarks/load_local.py); generous here, the machine is shared.
    assert p99 < 0.25


def test_large_bad_documents_get_problem_json_not_500() -> None:
    options = EmulatorOptions(relay_proxy=False, sample_functions=False)
    before = set(multiprocessing.active_children())
    with BackgroundEmulator(options) as info:
        state = LocalState.load_or_create(info.data_dir)
        public = compressed_point(state.private_keys[Curve.P256].public_key())
        encryptor = default_encryptor(Curve.P256, public, rotation_seconds=0)
        values = [encryptor.encrypt(f"v{n}") for n in range(50)]
        values[17] = values[17][:-8] + "AAAAAA:$"
        credentials = base64.b64encode(f"{info.app_id}:{info.api_key}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
        status, answer = _post(info.api_url + "decrypt", json.dumps(values).encode(), headers)
        assert status == 422 and json.loads(answer)["code"] == "unprocessable-content"
        status, answer = _post(info.api_url + "decrypt", b"[" + b'"ev:x", ' * 20_000 + b"oops", headers)
        assert status == 400 and json.loads(answer)["code"] == "bad-request"
    assert set(multiprocessing.active_children()) <= before


def test_one_clients_document_stays_inline_and_many_sessions_go_to_a_worker(pools: Pools) -> None:
    pool = DecryptPool({}, workers=2)  # never started: only its decision is used
    one_session = default_encryptor(
        Curve.P256, pools.encryptors[Curve.P256]._app_public_key, rotation_seconds=3600
    ).encrypt({f"f{n}": f"v{n}" for n in range(50)})
    assert pool._is_small_body(json.dumps(one_session).encode())
    three_sessions = [pools.encryptors[Curve.P256].encrypt("x") for _ in range(3)]
    assert not pool._is_small_body(json.dumps(three_sessions).encode())
    assert not pool._is_small_body(json.dumps(["plain"] * 20_000).encode())  # 64 KiB of JSON to parse


def test_a_script_without_a_main_guard_is_not_run_again_by_the_workers(tmp_path: Path) -> None:
    state = LocalState.load_or_create(tmp_path / "d")
    public = compressed_point(state.private_keys[Curve.P256].public_key())
    encryptor = default_encryptor(Curve.P256, public, rotation_seconds=0)
    values = [encryptor.encrypt(f"v{n}") for n in range(6)]  # 6 sessions: decrypted in a worker
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import json\n"
        "from evervault.local.runner import BackgroundEmulator, EmulatorOptions\n"
        "print('script ran', flush=True)\n"
        f"options = EmulatorOptions(data_dir={str(tmp_path / 'd')!r}, relay_proxy=False)\n"
        "with BackgroundEmulator(options) as info:\n"
        "    client = info.client()\n"
        f"    print(json.dumps(client.decrypt({values!r})), flush=True)\n"
    )
    finished = subprocess.run(
        [sys.executable, str(script)], env=child_env(), capture_output=True, text=True, timeout=GENEROUS
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = finished.stdout.splitlines()
    assert lines == ["script ran", json.dumps([f"v{n}" for n in range(6)])]


def test_relay_requests_decrypt_alike_in_a_worker(pools: Pools) -> None:
    from evervault.domain.decryption import Decryptor
    from evervault.local.relay_decryption import decrypt_request

    encrypt = pools.encryptors[Curve.P256].encrypt
    body = json.dumps({"card": [encrypt(f"4242-{n}") for n in range(10)], "cvc": encrypt(123)}).encode()
    headers = [(b"content-type", b"application/json"), (b"x-secret", encrypt("header value").encode())]
    in_worker = pools.workers.decrypt_relay_request(headers, body)
    inline = decrypt_request(Decryptor(pools.private_keys), headers, body)
    assert in_worker == inline
    assert json.loads(in_worker[1]) == {"card": [f"4242-{n}" for n in range(10)], "cvc": 123}
    assert (b"x-secret", b"header value") in in_worker[0]
