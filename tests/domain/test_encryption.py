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


@pytest.mark.parametrize("curve", CURVES)
def test_concurrent_encryption_during_constant_rotation_always_decrypts(curve: Curve) -> None:
    """Session keys are swapped atomically: no value pairs one key's public half with another's secret."""
    keys = SequentialEphemeralKeys()
    encryptor = Encryptor(
        curve,
        app_public_key(curve),
        ephemeral_keys=keys,
        iv_source=CountingIvSource(),
        clock=TickingClock(),
        rotation_seconds=3,
    )
    outputs: list[Any] = []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        produced = []
        for index in range(40):
            role = "r" if index % 3 == 0 else None
            produced.append(
                (index, encryptor.encrypt(index, role=role) if index % 7 else encryptor.encrypt(b"f"))
            )
        outputs.extend(produced)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == 8 * 40
    assert keys.calls > 10  # the keys really did rotate under the threads
    reader = decryptor()
    for index, encrypted in outputs:
        expected = b"f" if isinstance(encrypted, bytes) else index
        assert reader.decrypt(encrypted) == expected
