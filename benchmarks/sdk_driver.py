"""Times one Evervault SDK through its public API, on command; run by ``benchmarks/run.py``.

The same script runs under both interpreters: the published ``evervault==5.1.3``
in the benchmark virtualenv, and this repository's drop-in replacement. It uses
only what both share (``evervault.init`` / ``evervault.encrypt``), the standard
library and ``cryptography``, so both SDKs do exactly the same work on exactly
the same inputs.

It is a long-lived process answering one JSON command per line on stdin with one
JSON line on stdout, so ``run.py`` can alternate samples between the two SDKs:
whatever else the machine is doing then slows both sides alike.

Commands: ``{"op": "init", "app_id", "api_key", "curve"}``,
``{"op": "sample", "case", "batch"}`` (mean seconds per call over ``batch`` calls),
``{"op": "memory"}`` (tracemalloc peak while encrypting the 25 MiB file), ``{"op": "quit"}``.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

SHORT_STRING = "4242424242424242"
ROLE = "card-number"
MIB = 1024 * 1024


def build_inputs() -> dict[str, Any]:
    """Identical inputs in both processes: no randomness in the plaintexts."""
    document = {f"field-{i:04d}": (f"value number {i}" if i % 2 else i * 7919) for i in range(1000)}
    return {
        "document": document,
        "file_1m": bytes(range(256)) * (MIB // 256),
        "file_25m": bytes(range(256)) * (25 * MIB // 256),
    }


class Driver:
    def __init__(self) -> None:
        self.inputs = build_inputs()
        self.cases: dict[str, Callable[[], object]] = {}

    def init(self, command: dict[str, Any]) -> dict[str, Any]:
        import cryptography

        import evervault

        evervault.init(command["app_id"], command["api_key"], curve=command["curve"])
        encrypt = evervault.encrypt
        inputs = self.inputs
        document, file_1m, file_25m = inputs["document"], inputs["file_1m"], inputs["file_25m"]
        self.cases = {
            "short_string": lambda: encrypt(SHORT_STRING),
            "short_string_role": lambda: encrypt(SHORT_STRING, ROLE),
            "dict_1000": lambda: encrypt(document),
            "file_1m": lambda: encrypt(file_1m),
            "file_25m": lambda: encrypt(file_25m),
            **floor_cases(inputs),
        }
        for call in self.cases.values():  # key fetch, first session key, caches
            call()
        return {
            "sdk_file": evervault.__file__,
            "python": sys.version.split()[0],
            "cryptography": str(cryptography.__version__),
            "cases": sorted(self.cases),
        }

    def sample(self, command: dict[str, Any]) -> dict[str, Any]:
        call = self.cases[command["case"]]
        batch = int(command["batch"])
        start = time.perf_counter()
        for _ in range(batch):
            call()
        return {"seconds": (time.perf_counter() - start) / batch}

    def memory(self, command: dict[str, Any]) -> dict[str, Any]:
        call = self.cases["file_25m"]
        gc.collect()
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            result = call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return {"peak_extra_bytes": peak - baseline, "output_bytes": len(result)}  # type: ignore[arg-type]


def floor_cases(inputs: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """What cryptography alone costs: AES-GCM with the cipher object reused, and CRC-32."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(bytes(range(32)))
    seal = aead.encrypt
    iv = bytes(12)
    short = SHORT_STRING.encode()
    # The dict's leaves as the SDK encrypts them: each value's text, one AES-GCM call each.
    fields = [str(value).encode() for value in inputs["document"].values()]
    file_1m, file_25m = inputs["file_1m"], inputs["file_25m"]

    def dict_floor() -> object:
        return [seal(iv, field, None) for field in fields]

    cases: dict[str, Callable[[], object]] = {
        "floor_short_string": lambda: seal(iv, short, None),
        "floor_dict_1000": dict_floor,
        "floor_file_1m": lambda: seal(iv, file_1m, None),
        "floor_file_25m": lambda: seal(iv, file_25m, None),
        "floor_crc32_zlib_25m": lambda: zlib.crc32(file_25m),
    }
    try:
        from isal.isal_zlib import crc32 as isal_crc32
    except ImportError:  # the published SDK's environment may not have it
        return cases
    cases["floor_crc32_isal_25m"] = lambda: isal_crc32(file_25m)
    # A file's floor: AES-GCM over the data plus the fastest CRC-32 over the output.
    cases["floor_file_1m_crc"] = lambda: isal_crc32(seal(iv, file_1m, None))
    cases["floor_file_25m_crc"] = lambda: isal_crc32(seal(iv, file_25m, None))
    return cases


def main() -> None:
    driver = Driver()
    handlers = {"init": driver.init, "sample": driver.sample, "memory": driver.memory}
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        print(json.dumps(handlers[command["op"]](command)), flush=True)


if __name__ == "__main__":
    main()
