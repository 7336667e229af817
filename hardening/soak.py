"""Soak: many threads or tasks encrypt mixed values while the session key rotates every few ms.

Every worker draws values from its own seeded generator (strings with any Unicode, ints up
to 2**70, floats from subnormal to 1e300, booleans, nested dicts and lists, byte strings
that encrypt as ``%EVENC`` files), half of them with a role. It encrypts each value, keeps
the pair, and decrypts in batches through the emulator's ``POST /decrypt``. A value is lost
when its decryption differs from the original in value *or* type (``True`` is not ``1``).
Zero lost is the only pass.

Rotation is forced by building the clients' encryptors with a rotation interval of a few
milliseconds (:func:`fast_rotation`); the result counts the distinct ephemeral keys seen,
so a run that did not rotate is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from evervault.adapters.system import default_encryptor
from evervault.bootstrap.clients import AsyncClient, Client
from evervault.domain.ciphertext import looks_encrypted, parse
from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.services.operations import EncryptorFactory

ROLE = "soak-role"
FILE_EVERY = 997  # one byte-string ("file") value in about a thousand
DECRYPT_BATCH = 400  # top-level values per POST /decrypt (each may hold many leaves)
# The soak checks integrity, not latency: 64 tasks queueing batch decrypts on a loaded
# machine can wait far longer than the 30 s default before the emulator answers.
SOAK_REQUEST_TIMEOUT = 600.0


@dataclass
class SoakResult:
    """What one soak run did: values are counted as encrypted leaves (each one ciphertext)."""

    mode: str
    workers: int
    values: int = 0
    files: int = 0
    with_role: int = 0
    lost: int = 0
    distinct_keys: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def merge(self, other: SoakResult) -> None:
        self.values += other.values
        self.files += other.files
        self.with_role += other.with_role
        self.lost += other.lost
        self.examples.extend(other.examples[: max(0, 5 - len(self.examples))])


@contextlib.contextmanager
def fast_rotation(seconds: float) -> Iterator[None]:
    """Clients created inside rotate their session key every ``seconds`` (default is 15 s)."""

    def rotating_encryptor(curve: Curve, public_key: bytes, max_file_size: int) -> Encryptor:
        return default_encryptor(curve, public_key, max_file_size, rotation_seconds=seconds)

    def factory(_client: object) -> EncryptorFactory:
        return rotating_encryptor

    with (
        mock.patch.object(Client, "_default_encryptor_factory", factory),
        mock.patch.object(AsyncClient, "_default_encryptor_factory", factory),
    ):
        yield


# --- values -------------------------------------------------------------------------------

_ALPHABET = "abcXYZ019 \t\n\"\\/:$%'éß中文🔒\u0000\u2028\U0001f600"


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 40)))


def random_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return random_text(rng)
    if kind == 1:
        return rng.randrange(-(2**70), 2**70)
    if kind == 2:
        return rng.randrange(-1000, 1000)
    if kind == 3:
        return rng.choice((0.1, -0.0, 1e300, 5e-324, 1.5e-7, -2.5)) * rng.choice((1, -1))
    if kind == 4:
        return rng.uniform(-1e9, 1e9)
    if kind == 5:
        return rng.random() < 0.5
    return random_text(rng)[:3]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A scalar, or (less often, and never too deep) a dict or list of values."""
    kind = rng.randrange(10)
    if depth < 3 and kind == 0:
        return {
            random_text(rng)[:8] or f"k{index}": random_value(rng, depth + 1)
            for index in range(rng.randrange(5))
        }
    if depth < 3 and kind == 1:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return random_scalar(rng)


def leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(leaves(item) for item in value.values())
    if isinstance(value, list):
        return sum(leaves(item) for item in value)
    return 1


def same(original: Any, decrypted: Any) -> bool:
    """Equal in value and type, all the way down (``True`` differs from ``1``, ``1`` from ``1.0``)."""
    if type(original) is not type(decrypted):
        return False
    if isinstance(original, dict):
        return original.keys() == decrypted.keys() and all(same(original[k], decrypted[k]) for k in original)
    if isinstance(original, list):
        return len(original) == len(decrypted) and all(map(same, original, decrypted))
    if isinstance(original, float):
        return original == decrypted or (original != original and decrypted != decrypted)
    return bool(original == decrypted)


def ephemeral_keys(encrypted: Any, into: set[bytes]) -> None:
    if isinstance(encrypted, dict):
        for item in encrypted.values():
            ephemeral_keys(item, into)
    elif isinstance(encrypted, list):
        for item in encrypted:
            ephemeral_keys(item, into)
    elif isinstance(encrypted, str) and looks_encrypted(encrypted):
        into.add(parse(encrypted).ephemeral_public_key)


# --- one worker -----------------------------------------------------------------------------


@dataclass
class Batch:
    """Originals and their ciphertexts, waiting for one ``POST /decrypt``."""

    originals: list[Any] = field(default_factory=list)
    encrypted: list[Any] = field(default_factory=list)
    keys: set[bytes] = field(default_factory=set)


def plan(rng: random.Random, index: int) -> tuple[Any, str | None]:
    """The value for draw ``index`` and its role (every other value has one; files take none)."""
    if index % FILE_EVERY == 7:
        return rng.randbytes(rng.randrange(0, 3000)), None
    return random_value(rng), ROLE if index % 2 else None


def check(result: SoakResult, originals: list[Any], decrypted: Any) -> None:
    if not isinstance(decrypted, list) or len(decrypted) != len(originals):
        result.lost += sum(map(leaves, originals))
        result.examples.append(f"a batch of {len(originals)} came back as {type(decrypted).__name__}")
        return
    for original, value in zip(originals, decrypted, strict=True):
        if not same(original, value):
            result.lost += leaves(original)
            if len(result.examples) < 5:
                result.examples.append(f"{original!r:.80} -> {value!r:.80}")


def check_file(result: SoakResult, original: bytes, decrypted: Any) -> None:
    if decrypted != original:
        result.lost += 1
        result.examples.append(f"a {len(original)}-byte file came back different")


def count(result: SoakResult, value: Any, role: str | None) -> None:
    n = 1 if isinstance(value, bytes) else leaves(value)
    result.values += n
    result.files += isinstance(value, bytes)
    result.with_role += n if role else 0


def thread_worker(client: Client, seed: int, quota: int, result: SoakResult, keys: set[bytes]) -> None:
    rng = random.Random(seed)
    batch = Batch()
    index = 0
    while result.values < quota:
        value, role = plan(rng, index)
        index += 1
        encrypted = client.encrypt(value, role)
        count(result, value, role)
        if isinstance(value, bytes):
            check_file(result, value, client.decrypt(encrypted))
            continue
        ephemeral_keys(encrypted, batch.keys)
        batch.originals.append(value)
        batch.encrypted.append(encrypted)
        if len(batch.originals) >= DECRYPT_BATCH:
            check(result, batch.originals, client.decrypt(batch.encrypted))
            keys.update(batch.keys)
            batch = Batch()
    if batch.originals:
        check(result, batch.originals, client.decrypt(batch.encrypted))
        keys.update(batch.keys)


async def task_worker(
    client: AsyncClient, seed: int, quota: int, result: SoakResult, keys: set[bytes]
) -> None:
    rng = random.Random(seed)
    batch = Batch()
    index = 0
    while result.values < quota:
        value, role = plan(rng, index)
        index += 1
        encrypted = await client.encrypt(value, role)
        count(result, value, role)
        if isinstance(value, bytes):
            check_file(result, value, await client.decrypt(encrypted))
            continue
        ephemeral_keys(encrypted, batch.keys)
        batch.originals.append(value)
        batch.encrypted.append(encrypted)
        if len(batch.originals) >= DECRYPT_BATCH:
            check(result, batch.originals, await client.decrypt(batch.encrypted))
            keys.update(batch.keys)
            batch = Batch()
        if index % 64 == 0:
            await asyncio.sleep(0)  # let the other tasks interleave with this one's rotations
    if batch.originals:
        check(result, batch.originals, await client.decrypt(batch.encrypted))
        keys.update(batch.keys)


# --- runs ---------------------------------------------------------------------------------------


def soak_threads(
    make_client: Callable[[], Client], values: int, threads: int = 16, seed: int = 1
) -> SoakResult:
    """``threads`` threads share one :class:`Client`; together they encrypt ``values`` values."""
    total = SoakResult("threads", threads)
    keys: set[bytes] = set()
    per_worker = [SoakResult("threads", 1) for _ in range(threads)]
    quota = -(-values // threads)
    failures: list[BaseException] = []
    started = time.perf_counter()
    with make_client() as client:

        def run(index: int) -> None:
            try:
                thread_worker(client, seed * 1000 + index, quota, per_worker[index], keys)
            except BaseException as error:  # reported as a failed run, not swallowed
                failures.append(error)

        workers = [
            threading.Thread(target=run, args=(index,), name=f"soak-{index}") for index in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if failures:
        raise failures[0]
    for part in per_worker:
        total.merge(part)
    total.distinct_keys = len(keys)
    total.seconds = time.perf_counter() - started
    return total


async def soak_tasks(
    make_client: Callable[[], AsyncClient], values: int, tasks: int = 64, seed: int = 2
) -> SoakResult:
    """``tasks`` asyncio tasks share one :class:`AsyncClient`; together they encrypt ``values``."""
    total = SoakResult("asyncio tasks", tasks)
    keys: set[bytes] = set()
    per_worker = [SoakResult("asyncio tasks", 1) for _ in range(tasks)]
    quota = -(-values // tasks)
    started = time.perf_counter()
    async with make_client() as client:
        await asyncio.gather(
            *(
                task_worker(client, seed * 1000 + index, quota, per_worker[index], keys)
                for index in range(tasks)
            )
        )
    for part in per_worker:
        total.merge(part)
    total.distinct_keys = len(keys)
    total.seconds = time.perf_counter() - started
    return total
