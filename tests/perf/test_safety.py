"""The speed-ups keep their safety properties: unique IVs, fork safety, atomic rotation."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from binascii import b2a_base64
from typing import Any

import pytest

from evervault.adapters.system import (
    OsRandomIvSource,
    SystemClock,
    build_bytes_in_place,
    default_encryptor,
    generate_ephemeral_key,
)
from evervault.domain.ciphertext import parse
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.decryption import Decryptor
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import InvalidArgumentError
from tests.perf.vectors import app_private_key

CURVE = Curve.SECP256K1
APP_KEY = app_private_key(CURVE)
APP_PUBLIC = compressed_point(APP_KEY.public_key())
needs_fork = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs os.fork")


def iv_of(ev_string: str) -> bytes:
    return parse(ev_string).iv


def ephemeral_of(ev_string: str) -> bytes:
    return parse(ev_string).ephemeral_public_key


# --- the batched IV source -------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 1024])
def test_ivs_are_unique_and_their_text_is_their_base64(batch_size: int) -> None:
    source = OsRandomIvSource(batch_size=batch_size)
    drawn = [source.next_iv() for _ in range(3000)]
    assert len({iv for iv, _ in drawn}) == 3000
    for iv, text in drawn:
        assert len(iv) == 12
        assert text == b2a_base64(iv, newline=False).decode("ascii")


def test_concurrent_draws_never_share_an_iv() -> None:
    source = OsRandomIvSource(batch_size=7)  # tiny batches: many concurrent refills
    results: list[list[bytes]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(into: list[bytes]) -> None:
        start.wait()
        into.extend(source.next_iv()[0] for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(result,)) for result in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [iv for result in results for iv in result]
    assert len(everything) == 40000
    assert len(set(everything)) == 40000


def test_a_batch_size_below_one_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="batch size"):
        OsRandomIvSource(batch_size=0)


def test_the_system_clock_is_the_c_functions() -> None:
    clock = SystemClock()
    assert abs(clock.time() - time.time()) < 5
    assert clock.monotonic() <= time.monotonic()


# --- fork ------------------------------------------------------------------------------------


@needs_fork
def test_a_forked_child_never_reuses_the_parents_session_key_or_ivs() -> None:
    encryptor = default_encryptor(CURVE, APP_PUBLIC)
    parent_first = encryptor.encrypt("before fork")  # session key and an IV batch now exist
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it would use next, then leave without cleanup
        try:
            values = [encryptor.encrypt("child") for _ in range(50)]
            files = [encryptor.encrypt(b"child file")[42:54].hex() for _ in range(5)]
            os.write(write_end, json.dumps({"values": values, "file_ivs": files}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    parent_values = [encryptor.encrypt("parent") for _ in range(50)]
    parent_file_ivs = [encryptor.encrypt(b"parent file")[42:54].hex() for _ in range(5)]

    # The child made its own session key...
    child_keys = {ephemeral_of(value) for value in child["values"]}
    assert child_keys.isdisjoint({ephemeral_of(parent_first)} | {ephemeral_of(v) for v in parent_values})
    # ...and drew fresh IVs rather than continuing the parent's batch.
    assert {iv_of(value) for value in child["values"]}.isdisjoint({iv_of(value) for value in parent_values})
    assert set(child["file_ivs"]).isdisjoint(parent_file_ivs)
    # Both sides' ciphertexts are genuine.
    decryptor = Decryptor({CURVE: APP_KEY})
    assert {decryptor.decrypt_string(value).value for value in child["values"]} == {"child"}


@needs_fork
def test_a_bare_iv_source_is_reset_in_the_child() -> None:
    source = OsRandomIvSource()
    source.next_iv()  # a batch is now buffered in this process
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, b"".join(source.next_iv()[0] for _ in range(100)))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    child_ivs = {child[i : i + 12] for i in range(0, len(child), 12)}
    parent_ivs = {source.next_iv()[0] for _ in range(100)}
    assert len(child_ivs) == 100
    assert child_ivs.isdisjoint(parent_ivs)


# --- rotation --------------------------------------------------------------------------------


class SteppingClock:
    """Monotonic time that advances by ``step`` on every read: forces constant rotation."""

    def __init__(self, step: float) -> None:
        self._now = 0.0
        self._step = step
        self._lock = threading.Lock()

    def time(self) -> float:
        return 1_700_000_000.0

    def monotonic(self) -> float:
        with self._lock:
            self._now += self._step
            return self._now


def test_rotation_under_threads_never_mixes_keys() -> None:
    """16 threads on the real IV source and key factory, roles mixed, a new key every few calls."""
    clock = SteppingClock(step=0.4)
    encryptor = Encryptor(
        CURVE,
        APP_PUBLIC,
        new_private_key=generate_ephemeral_key,
        next_iv=OsRandomIvSource(batch_size=16).next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
        rotation_seconds=1.0,  # a new key every few calls
        build_bytes=build_bytes_in_place,
    )
    decryptor = Decryptor({CURVE: APP_KEY})
    failures: list[str] = []
    documents: list[dict[str, Any]] = []
    files: list[tuple[bytes, bytes]] = []
    values: list[str] = []
    start = threading.Barrier(16)

    def work(index: int) -> None:
        start.wait()
        for round_number in range(40):
            plain = f"thread {index} round {round_number}"
            for value, role in ((plain, None), (plain, "my-role")):
                encrypted = encryptor.encrypt(value, role)
                values.append(encrypted)
                if decryptor.decrypt_string(encrypted).value != value:
                    failures.append(plain)
            documents.append(encryptor.encrypt({"a": plain, "b": [round_number, True, 1.5]}, "my-role"))
            if round_number % 8 == 0:
                files.append((plain.encode(), encryptor.encrypt(plain.encode())))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(values) == 16 * 40 * 2 and len(documents) == 16 * 40 and len(files) == 16 * 5  # none lost
    assert len({ephemeral_of(document["a"]) for document in documents}) > 10  # it did rotate
    for document in documents:
        leaves = [document["a"], *document["b"]]
        assert len({ephemeral_of(leaf) for leaf in leaves}) == 1  # one call, one key
        assert decryptor.decrypt(document)["b"][1] is True
    for plain_bytes, encrypted_file in files:
        assert decryptor.decrypt_file(encrypted_file).data == plain_bytes
    every_leaf = values + [leaf for document in documents for leaf in (document["a"], *document["b"])]
    assert len({(ephemeral_of(leaf), iv_of(leaf)) for leaf in every_leaf}) == len(every_leaf)


@needs_fork
def test_a_child_forked_while_a_lock_or_a_rotation_claim_is_held_can_still_encrypt() -> None:
    """A thread may hold the IV refill lock, or be building the next session key, when another forks.

    The child inherits that lock locked with no thread to release it, and a claim on the
    session key that no thread in the child will ever act on. The reset after fork must
    give the IV source a fresh lock and the encryptor no session key; otherwise the
    child's first refill hangs forever, or it keeps encrypting under the parent's key.
    """
    encryptor = default_encryptor(CURVE, APP_PUBLIC, rotation_seconds=0.0)  # always expired
    encryptor.encrypt("before fork")
    claimed = encryptor._session
    assert claimed is not None
    source = OsRandomIvSource()
    read_end, write_end = os.pipe()
    next(claimed.rotation_claims)  # as if another thread were building the successor
    with source._lock:  # as if another thread were refilling
        pid = os.fork()
        if pid == 0:
            try:
                signal.alarm(20)  # a deadlocked child dies instead of hanging the suite
                value = encryptor.encrypt("child")
                source.next_iv()
                os.write(write_end, value.encode())
            finally:
                os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_value = pipe.read().decode()
    os.waitpid(pid, 0)
    assert Decryptor({CURVE: APP_KEY}).decrypt_string(child_value).value == "child"
    assert ephemeral_of(child_value) != claimed.ephemeral_public_key
