"""CPU-heavy decryption off the event loop: a pool of worker processes sized to the machine.

Deriving the key of one ephemeral public key (ECDH and HKDF) costs about a millisecond;
a document whose values were encrypted by thousands of sessions would hold the event
loop (and ``/_local/health``) for seconds, and threads would not help because the
derivation holds the GIL. So :class:`DecryptPool` sends such work to processes:

* each worker loads the app's private keys once (the pool's initializer) and keeps its
  own derived-key LRU (:class:`~evervault.domain.decryption.Decryptor`);
* a ``POST /decrypt`` body travels as raw bytes and comes back as the response body:
  JSON parsing and serialisation run in the worker too;
* small documents stay inline, where a round trip to a process would cost more than the
  work: at most ``inline_max_keys`` distinct ephemeral keys (one derivation each; a
  document one client encrypted has one) in at most ``inline_max_bytes`` of JSON;
* a worker's error comes back as data and is raised again here as the same typed error,
  so the answer is the same Problem JSON (400, 422, ...) as inline;
* the pool starts with the first document that needs it and is shut down with the app;
* the relay proxy's threads use it too (:meth:`DecryptPool.decrypt_relay_request`): a
  thread holding the GIL for a long decryption would stall the event loop just the same.

``workers=0`` keeps everything inline (no processes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.domain.decryption import DEFAULT_CACHE_SIZE, Decryptor
from evervault.domain.errors import (
    ApiError,
    BadRequestError,
    CiphertextError,
    ConfigurationError,
    DecryptionError,
    EvervaultError,
    InvalidArgumentError,
    RelayError,
)
from evervault.local.relay_decryption import decrypt_request

logger = logging.getLogger("evervault.local")

# Measured on 2 shared cores: a round trip to a worker costs 0.5-1.2 ms, one derivation
# 1 ms (P-256) to 3-9 ms (secp256k1), decrypting a value with a cached key ~10 us. So a
# document with one or two sessions' values stays inline (a few ms of the event loop at
# most); more sessions, or more than 64 KiB of JSON to parse, go to a worker.
DEFAULT_INLINE_MAX_KEYS = 2
DEFAULT_INLINE_MAX_BYTES = 64 * 1024
# How many nodes of an already parsed document are looked at to decide it is small.
_INLINE_WALK_LIMIT = 256
# The IV and ephemeral public key segments of an ev-string (16 and 44 base64 characters).
_EPHEMERAL_KEY = re.compile(rb":[A-Za-z0-9+/]{16}:([A-Za-z0-9+/]{44}):")

PrivateKeys = Mapping[Curve, ec.EllipticCurvePrivateKey]
Headers = list[tuple[bytes, bytes]]
# (kind, message, status, code): a typed error, carried back from a worker as plain data.
Failure = tuple[str, str, int, str]


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class DecryptPool:
    """Decrypts JSON documents for one app: inline when cheap, else in worker processes."""

    def __init__(
        self,
        private_keys: PrivateKeys,
        *,
        workers: int | None = None,
        inline_max_keys: int = DEFAULT_INLINE_MAX_KEYS,
        inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if workers is not None and workers < 0:
            raise ConfigurationError("decrypt_workers must be 0 (inline) or more.")
        self.workers = default_workers() if workers is None else workers
        self._inline = Decryptor(private_keys, cache_size=cache_size)
        self._key_pems = {curve.value: _private_pem(key) for curve, key in private_keys.items()}
        self._cache_size = cache_size
        self._inline_max_keys = inline_max_keys
        self._inline_max_bytes = inline_max_bytes
        self._executor: ProcessPoolExecutor | None = None
        self._executor_lock = threading.Lock()  # the relay's threads start the pool too
        self._closed = False

    def __repr__(self) -> str:
        return f"DecryptPool(workers={self.workers})"

    # --- what the handlers call -----------------------------------------------------------

    async def decrypt_json(self, raw: bytes) -> bytes:
        """The JSON body of a decrypt answer for the JSON document ``raw``."""
        if self._is_small_body(raw):
            body: bytes = _raise_failure(decrypt_json_body(self._inline, raw))
        else:
            body = _raise_failure(await self._submit(_decrypt_json_in_worker, raw))
        return body

    async def decrypt_document(self, document: Any) -> Any:
        """``document`` with every ev-string decrypted (a parsed JSON value)."""
        if self._is_small_document(document):
            return _raise_failure(decrypt_value(self._inline, document))
        return _raise_failure(await self._submit(_decrypt_document_in_worker, document))

    def decrypt_relay_request(self, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
        """:func:`~evervault.local.relay_decryption.decrypt_request`, blocking (for relay threads)."""
        sample = body + b"".join(value for _, value in headers)
        if self._is_small_body(sample):
            return decrypt_request(self._inline, headers, body)
        try:
            future = self._get_executor().submit(_decrypt_relay_request_in_worker, list(headers), body)
            result: tuple[Headers, bytes] = _raise_failure(future.result())
        except BrokenProcessPool:
            self._forget_broken_executor()
            raise RelayError("A decryption worker failed; the request was not forwarded.") from None
        return result

    async def close(self) -> None:
        """Stop the workers (waiting for running work without blocking the event loop)."""
        with self._executor_lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: executor.shutdown(wait=True, cancel_futures=True))

    # --- internals ------------------------------------------------------------------------

    def _is_small_body(self, raw: bytes) -> bool:
        if self.workers == 0:
            return True
        if len(raw) > self._inline_max_bytes:
            return False
        keys: set[bytes] = set()
        for match in _EPHEMERAL_KEY.finditer(raw):
            keys.add(match.group(1))
            if len(keys) > self._inline_max_keys:
                return False
        return True

    def _is_small_document(self, document: Any) -> bool:
        return self.workers == 0 or _few_encrypted_values(document, self._inline_max_keys)

    async def _submit(self, work: Callable[[Any], _Success | Failure], argument: Any) -> Any:
        executor = self._get_executor()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, work, argument)
        except BrokenProcessPool:
            self._forget_broken_executor()
            return ("api", "A decryption worker failed; retry the request.", 503, "service-unavailable")

    def _forget_broken_executor(self) -> None:
        """A worker died (killed, out of memory): the next document gets a fresh pool."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            logger.error("A decryption worker process died; starting new ones for the next request.")

    def _get_executor(self) -> Executor:
        with self._executor_lock:
            return self._executor_locked()

    def _executor_locked(self) -> Executor:
        if self._closed:
            raise ApiError("The emulator is shutting down.", status_code=503, code="service-unavailable")
        if self._executor is None:
            # spawn, not fork: the emulator runs threads (relay, enclave, the caller's own),
            # and forking a threaded process can copy a held lock into the child.
            executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._key_pems, self._cache_size),
            )
            # Every worker starts now (one submit starts one), while __main__ is hidden.
            with _main_module_hidden():
                for _ in range(self.workers):
                    executor.submit(_started)
            self._executor = executor
        return self._executor


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without them running the parent's ``__main__`` script again.

    A spawned child imports the parent's main script first (to find functions defined
    there). A script that starts an emulator at import time, without an
    ``if __name__ == "__main__":`` guard, would then start one in every worker; the
    workers need nothing from it, so it is replaced by an empty module while they start.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _started() -> None:
    """A first task that makes the pool start a worker (nothing to do)."""


def _few_encrypted_values(document: Any, limit: int) -> bool:
    """Whether ``document`` is small: at most ``limit`` ev-strings, in at most a few hundred nodes."""
    pending = [document]
    visited = encrypted = 0
    while pending:
        value = pending.pop()
        visited += 1
        if visited > _INLINE_WALK_LIMIT:
            return False
        if isinstance(value, str):
            encrypted += value.startswith("ev:")
            if encrypted > limit:
                return False
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _raise_failure(result: Any) -> Any:
    """The successful result, or the worker's typed error raised again."""
    if isinstance(result, _Success):
        return result.value
    kind, message, status, code = result
    if kind == "api":
        raise ApiError(message, status_code=status, code=code)
    if kind == "ciphertext":
        raise DecryptionError(message)
    if kind == "invalid":
        raise InvalidArgumentError(message)
    raise RuntimeError(f"A decryption worker failed unexpectedly ({message}).")


class _Success:
    """A worker's result (a class of its own, so no result can be mistaken for a failure)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[type[_Success], tuple[Any]]:
        return (_Success, (self.value,))


# --- the work itself: the same functions run inline and in workers -----------------------------


def decrypt_json_body(decryptor: Decryptor, raw: bytes) -> _Success | Failure:
    """Parse ``raw``, decrypt every ev-string, serialise the answer; errors as :data:`Failure`."""
    try:
        document = parse_json_bytes(raw)
    except ApiError as error:
        return _failure(error)
    decrypted = decrypt_value(decryptor, document)
    if not isinstance(decrypted, _Success):
        return decrypted
    try:
        # As server.json_response: NaN/Infinity written as Python's json does.
        return _Success(json.dumps(decrypted.value).encode("utf-8"))
    except RecursionError:
        return ("api", "The document is nested too deeply to answer.", 400, "bad-request")


def decrypt_value(decryptor: Decryptor, document: Any) -> _Success | Failure:
    try:
        return _Success(decryptor.decrypt(document))
    except RecursionError:
        return ("api", "The JSON document is nested too deeply to decrypt.", 400, "bad-request")
    except EvervaultError as error:
        return _failure(error)


def parse_json_bytes(raw: bytes) -> Any:
    """A JSON request body; :class:`InvalidArgumentError` (400) if it is not UTF-8 JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid_json() from None


def _invalid_json() -> BadRequestError:
    return BadRequestError("The request body is not valid UTF-8 JSON.", status_code=400, code="bad-request")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _failure(error: EvervaultError) -> Failure:
    message = error.message or ""
    if isinstance(error, ApiError):
        return ("api", message, error.status_code or 500, error.code or "")
    if isinstance(error, CiphertextError):
        return ("ciphertext", message, 422, "unprocessable-content")
    if isinstance(error, InvalidArgumentError):
        return ("invalid", message, 400, "bad-request")
    return ("unexpected", type(error).__name__, 500, "internal-server-error")


# --- worker processes ------------------------------------------------------------------------

_worker_decryptor: Decryptor | None = None


def _init_worker(key_pems: dict[str, bytes], cache_size: int) -> None:
    global _worker_decryptor
    # Ctrl-C in a terminal reaches the whole process group: the parent shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keys = {Curve(name): _load_private_key(pem) for name, pem in key_pems.items()}
    _worker_decryptor = Decryptor(keys, cache_size=cache_size)


def _decrypt_json_in_worker(raw: bytes) -> _Success | Failure:
    assert _worker_decryptor is not None, "the pool initializer did not run"
    return decrypt_json_body(_worker_decryptor, raw)


def _decrypt_document_in_worker(document: Any) -> _Success | Failure:
    assert _worker_decryptor is not None, "the pool initializer did not run"
    return decrypt_value(_worker_decryptor, document)


def _decrypt_relay_request_in_worker(headers: Headers, body: bytes) -> _Success | Failure:
    assert _worker_decryptor is not None, "the pool initializer did not run"
    try:
        return _Success(decrypt_request(_worker_decryptor, headers, body))
    except EvervaultError as error:
        return _failure(error)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigurationError("A decryption worker received a key that is not an EC private key.")
    return key
