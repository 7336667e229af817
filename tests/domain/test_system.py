"""The system adapter: clock, batched OS-random IVs, ephemeral keys, fork safety."""

from __future__ import annotations

import base64
import os
import sys

import pytest

from evervault.adapters.system import (
    OsRandomIvSource,
    SystemClock,
    default_encryptor,
    generate_ephemeral_key,
)
from evervault.domain.curves import Curve, compressed_point
from evervault.ports.clock import Clock
from evervault.ports.randomness import EphemeralKeyFactory, IvSource
from tests.domain.fakes import app_public_key, decryptor


def test_the_system_adapters_implement_the_ports() -> None:
    """Checked statically by mypy (the annotations) and at run time (the domain gets these callables)."""
    clock: Clock = SystemClock()
    source: IvSource = OsRandomIvSource()
    keys: EphemeralKeyFactory = generate_ephemeral_key
    iv, text = source.next_iv()
    assert len(iv) == 12 and base64.b64decode(text) == iv
    assert isinstance(clock.time(), float) and isinstance(clock.monotonic(), float)
    assert keys(Curve.P256).curve.name == "secp256r1"


def test_system_clock() -> None:
    clock = SystemClock()
    assert clock.time() > 1_600_000_000
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_ivs_are_unique_across_refills_and_text_matches_bytes() -> None:
    source = OsRandomIvSource(batch_size=4)
    ivs = [source.next_iv() for _ in range(50)]
    assert len({iv for iv, _ in ivs}) == 50
    for iv, text in ivs:
        assert len(iv) == 12 and len(text) == 16
        assert base64.b64decode(text) == iv


@pytest.mark.parametrize("curve", list(Curve))
def test_ephemeral_keys_are_fresh_and_on_the_curve(curve: Curve) -> None:
    first, second = generate_ephemeral_key(curve), generate_ephemeral_key(curve)
    assert first.curve.name == curve.ec_curve.name
    assert compressed_point(first.public_key()) != compressed_point(second.public_key())


@pytest.mark.parametrize("curve", list(Curve))
def test_default_encryptor_round_trip(curve: Curve) -> None:
    encryptor = default_encryptor(curve, app_public_key(curve))
    assert decryptor().decrypt(encryptor.encrypt({"a": [1, "x"]}, role="r")) == {"a": [1, "x"]}
    assert decryptor().decrypt(encryptor.encrypt(b"file")) == b"file"


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs os.fork")
def test_fork_gives_the_child_its_own_ivs_and_session_key() -> None:
    source = OsRandomIvSource()
    encryptor = default_encryptor(Curve.P256, app_public_key(Curve.P256))
    source.next_iv()  # the parent now holds a pre-drawn batch of IVs
    parent_key = encryptor.current_session().ephemeral_public_key
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next IV and session key, then leave without running pytest teardown
        try:
            os.close(read_end)
            child_iv = source.next_iv()[0]
            child_key = encryptor.current_session().ephemeral_public_key
            os.write(write_end, child_iv + child_key)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert len(report) == 12 + 33
    child_iv, child_key = report[:12], report[12:]
    parent_ivs = {source.next_iv()[0] for _ in range(2048)}  # more than one batch: the parent's whole stream
    assert child_iv not in parent_ivs
    assert child_key != parent_key
    assert encryptor.current_session().ephemeral_public_key == parent_key  # the parent is unaffected
