"""Measurements of this repository's engine alone; run by ``benchmarks/run.py``.

Each mode runs in its own process so ``ru_maxrss`` (the peak resident set) is
this measurement's and nothing else's:

``stream-encrypt SRC DST``   ``encrypt_stream`` from SRC to DST.
``stream-decrypt SRC``       two-pass ``decrypt_stream`` of SRC (tag checked before any plaintext
                             leaves) into a sink that only counts bytes.
``decrypt-document``         the emulator-side decrypt of a 1,000-field document encrypted under
                             one session key: ``Decryptor`` with its derived-key cache against
                             ``cache_size=0`` (every value derived from scratch).
``engine``                   the encrypt cases on ``Encryptor`` directly, without the
                             ``evervault.encrypt`` facade, for comparison with the SDK rows.

Output: one JSON object on stdout.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar
from evervault.domain.decryption import Decryptor
from evervault.services.file_streams import decrypt_stream, encrypt_stream

# Benchmark-only app key (a fixed, public scalar): the numbers must not depend on the key.
BENCH_APP_SCALAR = bytes(range(1, 33))


def app_private_key(curve: Curve) -> ec.EllipticCurvePrivateKey:
    return private_key_from_scalar(curve, BENCH_APP_SCALAR)


def peak_rss_bytes() -> int:
    """Peak resident set of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class CountingSink:
    """A destination that keeps nothing: measures the decryptor, not a disk."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: memoryview) -> int:
        self.count += len(data)
        return len(data)


def stream_encrypt(curve: Curve, source_path: str, destination_path: str) -> dict[str, Any]:
    encryptor = default_encryptor(curve, compressed_point(app_private_key(curve).public_key()))
    before = peak_rss_bytes()
    start = time.perf_counter()
    with open(source_path, "rb") as source, open(destination_path, "wb") as destination:
        written = encrypt_stream(encryptor.file_encryptor(), source, destination)
    seconds = time.perf_counter() - start
    return {"bytes_written": written, "seconds": seconds, "rss_before": before, "rss_peak": peak_rss_bytes()}


def stream_decrypt(curve: Curve, source_path: str) -> dict[str, Any]:
    keys = {curve: app_private_key(curve)}
    sink = CountingSink()
    before = peak_rss_bytes()
    start = time.perf_counter()
    with open(source_path, "rb") as source:
        result = decrypt_stream(keys, source, sink)
    seconds = time.perf_counter() - start
    return {
        "plaintext_bytes": result.plaintext_length,
        "released_bytes": sink.count,
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": peak_rss_bytes(),
    }


def decrypt_document(curve: Curve, samples: int) -> dict[str, Any]:
    private_key = app_private_key(curve)
    encryptor = default_encryptor(curve, compressed_point(private_key.public_key()))
    document = {f"field-{i:04d}": (f"value number {i}" if i % 2 else i * 7919) for i in range(1000)}
    encrypted = encryptor.encrypt(document)

    def cached() -> object:  # a new Decryptor each time: one derivation, then cache hits
        return Decryptor({curve: private_key}).decrypt(encrypted)

    def uncached() -> object:
        return Decryptor({curve: private_key}, cache_size=0).decrypt(encrypted)

    if cached() != document or uncached() != document:
        raise SystemExit("decrypt-document: the round trip failed")
    return {"cached": _median(cached, samples), "uncached": _median(uncached, max(3, samples // 3))}


def engine(curve: Curve, scale: float) -> dict[str, float]:
    """The SDK rows again on the engine itself, to show what the facade layers cost."""
    encryptor = default_encryptor(curve, compressed_point(app_private_key(curve).public_key()))
    document = {f"field-{i:04d}": (f"value number {i}" if i % 2 else i * 7919) for i in range(1000)}
    short = "4242424242424242"
    file_25m = bytes(range(256)) * (25 * 1024 * 1024 // 256)
    return {
        "short_string": _batched(lambda: encryptor.encrypt(short), max(3, int(20000 * scale))),
        "short_string_role": _batched(
            lambda: encryptor.encrypt(short, "card-number"), max(3, int(20000 * scale))
        ),
        "dict_1000": _batched(lambda: encryptor.encrypt(document), max(3, int(20 * scale))),
        "file_25m": _median(lambda: encryptor.encrypt(file_25m), max(3, int(21 * scale))),
    }


def _batched(call: Any, batch: int, samples: int = 31) -> float:
    for _ in range(max(1, batch // 4)):
        call()
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        timings.append((time.perf_counter() - start) / batch)
    return statistics.median(timings)


def _median(call: Any, samples: int) -> float:
    call()
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main(argv: list[str]) -> dict[str, Any]:
    mode, curve = argv[0], Curve.from_name(argv[1])
    if mode == "stream-encrypt":
        return stream_encrypt(curve, argv[2], argv[3])
    if mode == "stream-decrypt":
        return stream_decrypt(curve, argv[2])
    if mode == "decrypt-document":
        return decrypt_document(curve, int(argv[2]))
    if mode == "engine":
        return engine(curve, float(argv[2]))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    json.dump(main(sys.argv[1:]), sys.stdout)
