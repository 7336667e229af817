"""The encryption engine: types, containers, roles, files, rotation and thread safety."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from evervault.domain.ciphertext import Version, parse
from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import (
    ExceededMaxFileSizeError,
    InvalidArgumentError,
    InvalidRoleError,
    UnsupportedTypeError,
)
from tests.domain.fakes import (
    CountingIvSource,
    FakeClock,
    SequentialEphemeralKeys,
    app_public_key,
    counting_encryptor,
    decryptor,
)
from tests.domain.samples import assert_same_typed

CURVES = list(Curve)


def ephemeral_segment(ev_string: str) -> str:
    return ev_string.split(":")[-3]


# --- types and containers --------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Data not defined"),
        ([1, None], "None cannot be encrypted inside a container"),
        ({"a": {"b": None}}, "None cannot be encrypted inside a container"),
        (Decimal("1.5"), "unsupported type Decimal"),
        (object(), "unsupported type object"),
        ([b"nested"], "Bytes can only be encrypted on their own"),
        ({"file": bytearray(b"x")}, "Bytes can only be encrypted on their own"),
        (complex(1, 2), "unsupported type complex"),
    ],
    ids=[
        "none",
        "nested-none",
        "deep-none",
        "decimal",
        "object",
        "nested-bytes",
        "nested-bytearray",
        "complex",
    ],
)
def test_unsupported_values(curve: Curve, value: object, message: str) -> None:
    with pytest.raises(UnsupportedTypeError, match=message):
        counting_encryptor(curve).encrypt(value)


def test_unsupported_type_error_is_also_a_type_error_and_an_argument_error() -> None:
    with pytest.raises(TypeError):
        counting_encryptor(Curve.P256).encrypt(None)
    assert issubclass(UnsupportedTypeError, InvalidArgumentError)


@pytest.mark.parametrize("curve", CURVES)
def test_container_shapes_are_kept_and_inputs_not_mutated(curve: Curve) -> None:
    document: dict[Any, Any] = {
        "name": "Ada",
        7: [1, 2.5, True, ("t", 1)],
        "tags": {"x", "y"},
        "frozen": frozenset({1}),
        "empty": {"list": [], "dict": {}, "tuple": (), "set": set()},
    }
    snapshot = repr(document)
    encrypted = counting_encryptor(curve).encrypt(document)
    assert repr(document) == snapshot
    assert set(encrypted) == {"name", 7, "tags", "frozen", "empty"}
    assert isinstance(encrypted[7], list) and isinstance(encrypted[7][3], tuple)
    assert isinstance(encrypted["tags"], set) and isinstance(encrypted["frozen"], frozenset)
    assert encrypted["empty"] == {"list": [], "dict": {}, "tuple": (), "set": set()}
    assert all(parse(item) for item in encrypted["tags"])
    assert_same_typed(decryptor().decrypt(encrypted), document)


@pytest.mark.parametrize("curve", CURVES)
def test_every_leaf_of_a_document_shares_the_role(curve: Curve) -> None:
    encrypted = counting_encryptor(curve).encrypt({"a": "x", "b": [1, False]}, role="pii")
    leaves = [encrypted["a"], *encrypted["b"]]
    results = [decryptor().decrypt_string(leaf) for leaf in leaves]
    assert {result.version for result in results} == {Version.current(curve, with_metadata=True)}
    assert {result.metadata.role for result in results if result.metadata} == {"pii"}


@pytest.mark.parametrize("curve", CURVES)
def test_lone_surrogates_are_an_argument_error(curve: Curve) -> None:
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        counting_encryptor(curve).encrypt({"k": ["ok", "\ud800"]})


def test_too_deep_nesting_is_an_argument_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidArgumentError, match="nested too deeply"):
        counting_encryptor(Curve.SECP256K1).encrypt(deep)


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role",
    ["", "Secret-Role", "a" * 21, "under_score", "sp ace", "r\u00f4le", 5, ["pii"]],
    ids=["empty", "upper", "21-chars", "underscore", "space", "non-ascii", "int", "list"],
)
def test_invalid_roles_are_rejected_before_encrypting(role: Any) -> None:
    encryptor = counting_encryptor(Curve.P256)
    with pytest.raises(InvalidRoleError) as caught:
        encryptor.encrypt("value", role=role)
    if isinstance(role, str) and role:
        assert role not in str(caught.value)


@pytest.mark.parametrize("curve", CURVES)
def test_role_and_no_role_values_share_a_session_and_both_decrypt(curve: Curve) -> None:
    """Published defect (docs/protocol.md §9.1): role/no-role in one key window broke secp256k1."""
    encryptor = counting_encryptor(curve)
    values = [
        encryptor.encrypt("a"),
        encryptor.encrypt("b", role="r1"),
        encryptor.encrypt(b"f"),
        encryptor.encrypt(3),
    ]
    assert len({ephemeral_segment(value) for value in values if isinstance(value, str)}) == 1
    assert decryptor().decrypt(values) == ["a", "b", b"f", 3]


def test_files_cannot_carry_a_role() -> None:
    with pytest.raises(InvalidArgumentError, match="role=None"):
        counting_encryptor(Curve.P256).encrypt(b"data", role="pii")


def test_metadata_timestamp_follows_the_wall_clock() -> None:
    clock = FakeClock(wall=1_700_000_000.9)
    encryptor = counting_encryptor(Curve.SECP256K1, clock)
    first = encryptor.encrypt("x", role="r")
    clock.wall = 1_700_000_001.2
    second = encryptor.encrypt("x", role="r")
    timestamps = [decryptor().decrypt_string(value).metadata.timestamp for value in (first, second)]  # type: ignore[union-attr]
    assert timestamps == [1_700_000_000, 1_700_000_001]


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_max_file_size_is_inclusive(curve: Curve) -> None:
    encryptor = counting_encryptor(curve, max_file_size=16)
    for data in (bytes(16), bytearray(16), memoryview(bytes(16))):
        assert decryptor().decrypt_file(encryptor.encrypt(data)).data == bytes(16)
    with pytest.raises(ExceededMaxFileSizeError, match="at most 16 bytes, got 17"):
        encryptor.encrypt(bytes(17))
    with pytest.raises(ExceededMaxFileSizeError):
        encryptor.encrypt_file(memoryview(bytes(17)))


def test_default_max_file_size_is_25_mib() -> None:
    encryptor = counting_encryptor(Curve.P256)
    with pytest.raises(ExceededMaxFileSizeError):
        encryptor.encrypt(bytes(25 * 1024 * 1024 + 1))


# --- session keys and rotation ----------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_rotation_follows_the_injected_clock(curve: Curve) -> None:
    clock = FakeClock(monotonic=100.0)
    keys = SequentialEphemeralKeys()
    encryptor = counting_encryptor(curve, clock, ephemeral_keys=keys, rotation_seconds=15)
    first = ephemeral_segment(encryptor.encrypt("a"))
    clock.advance(14.999)
    assert ephemeral_segment(encryptor.encrypt("b")) == first
    assert keys.calls == 1
    clock.advance(0.001)  # exactly 15 s after creation: the key has expired
    second = ephemeral_segment(encryptor.encrypt("c"))
    assert second != first and keys.calls == 2
    clock.advance(5)
    assert ephemeral_segment(encryptor.encrypt("d")) == second


def test_no_key_is_made_before_the_first_use_and_reset_forgets_it() -> None:
    keys = SequentialEphemeralKeys()
    encryptor = counting_encryptor(Curve.P256, ephemeral_keys=keys)
    assert keys.calls == 0
    session = encryptor.current_session()
    assert encryptor.current_session() is session and keys.calls == 1
    encryptor.reset()
    assert encryptor.current_session() is not session and keys.calls == 2


class TickingClock:
    """Monotonic time advances by one tick on every read, so rotation happens constantly."""

    def __init__(self) -> None:
        self._ticks = 0
        self._lock = threading.Lock()

    def time(self) -> float:
        return 1_700_000_000.0

    def monotonic(self) -> float:
        with self._lock:
            self._ticks += 1
            return float(self._ticks)


def encrypt_mixed(encryptor: Encryptor, worker: int, index: int) -> tuple[Any, Any]:
    """One value of a mix of every kind and role: (what was encrypted, its encryption)."""
    kind = (worker + index) % 6
    text = f"worker {worker} value {index}"
    if kind == 0:
        return text, encryptor.encrypt(text)
    if kind == 1:
        return text, encryptor.encrypt(text, role="r")
    if kind == 2:
        return index, encryptor.encrypt(index, role="r" if index % 2 else None)
    if kind == 3:
        document = {"text": text, "n": index, "flag": True, "items": [text, 1.5]}
        return document, encryptor.encrypt(document, role="r" if index % 2 else None)
    if kind == 4:
        return text.encode(), encryptor.encrypt(text.encode())
    return [text, index], encryptor.encrypt([text, index])


def ev_leaves(encrypted: Any) -> list[str]:
    if isinstance(encrypted, str):
        return [encrypted]
    if isinstance(encrypted, dict):
        encrypted = list(encrypted.values())
    if isinstance(encrypted, (list, tuple)):
        return [leaf for item in encrypted for leaf in ev_leaves(item)]
    return []  # a file


@pytest.mark.parametrize("curve", CURVES)
def test_concurrent_encryption_during_constant_rotation_always_decrypts(curve: Curve) -> None:
    """16 threads, every kind and role, a rotation every few calls: nothing lost or mixed.

    Session keys are swapped atomically, so no value pairs one key's public half with
    another's secret, every container is sealed under one key, and no IV repeats under
    a key.
    """
    keys = SequentialEphemeralKeys()
    clock = TickingClock()
    encryptor = Encryptor(
        curve,
        app_public_key(curve),
        new_private_key=keys,
        next_iv=CountingIvSource().next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
        rotation_seconds=3,
    )
    outputs: list[tuple[Any, Any]] = []
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        start.wait()
        produced = [encrypt_mixed(encryptor, worker, index) for index in range(40)]
        outputs.extend(produced)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == 16 * 40  # nothing lost
    assert keys.calls > 10  # the keys really did rotate under the threads
    reader = decryptor()
    sealed_under: list[tuple[str, bytes]] = []
    for plain, encrypted in outputs:
        assert_same_typed(reader.decrypt(encrypted), plain)
        leaves = ev_leaves(encrypted)
        assert len({ephemeral_segment(leaf) for leaf in leaves}) <= 1  # one call, one key
        sealed_under.extend((ephemeral_segment(leaf), parse(leaf).iv) for leaf in leaves)
    assert len(set(sealed_under)) == len(sealed_under)  # no IV twice under a key


class GatedEphemeralKeys(SequentialEphemeralKeys):
    """Builds the key numbered ``gated_call`` only once ``release`` is set (or 30 s pass)."""

    def __init__(self, gated_call: int) -> None:
        super().__init__()
        self.gated_call = gated_call
        self.release = threading.Event()

    def __call__(self, curve: Curve) -> Any:
        key = super().__call__(curve)
        if self.calls == self.gated_call:
            self.release.wait(timeout=30)
        return key


@pytest.mark.parametrize("curve", CURVES)
def test_of_sixteen_threads_finding_the_key_expired_only_one_builds_the_next(curve: Curve) -> None:
    """The rest keep the expired key while the successor is built, instead of building their own."""
    clock = FakeClock(monotonic=100.0)
    keys = GatedEphemeralKeys(gated_call=2)
    encryptor = counting_encryptor(curve, clock, ephemeral_keys=keys, rotation_seconds=15)
    first = encryptor.current_session()
    clock.advance(15)  # expired: every thread below finds it so
    outputs: dict[int, Any] = {}
    finished = []
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        start.wait()
        outputs[worker] = encryptor.encrypt(f"value {worker}", role="r" if worker % 2 else None)
        finished.append(worker)
        if len(finished) == 15:  # all but the builder, which waits in the gate
            keys.release.set()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert keys.calls == 2  # one initial key, one successor: no thread built a key of its own
    second = encryptor.current_session()
    assert second is not first
    used = [ephemeral_segment(outputs[worker]) for worker in range(16)]
    old, new = first.key_segment.strip(":"), second.key_segment.strip(":")
    assert sorted(used) == sorted([old] * 15 + [new])
    reader = decryptor()
    assert [reader.decrypt(outputs[worker]) for worker in range(16)] == [f"value {w}" for w in range(16)]


class FailingOnceKeys(SequentialEphemeralKeys):
    def __call__(self, curve: Curve) -> Any:
        key = super().__call__(curve)
        if self.calls == 2:
            raise RuntimeError("no entropy today")
        return key


def test_a_failed_rotation_is_retried_by_the_next_call() -> None:
    """A builder that fails gives up its claim: the expired key is not used forever."""
    clock = FakeClock(monotonic=100.0)
    keys = FailingOnceKeys()
    encryptor = counting_encryptor(Curve.P256, clock, ephemeral_keys=keys, rotation_seconds=15)
    first = ephemeral_segment(encryptor.encrypt("a"))
    clock.advance(15)
    with pytest.raises(RuntimeError, match="no entropy"):
        encryptor.encrypt("b")
    second = ephemeral_segment(encryptor.encrypt("c"))
    assert keys.calls == 3 and second != first
    assert decryptor().decrypt(encryptor.encrypt("d")) == "d"
