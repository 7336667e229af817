"""``make bench``: every performance target, each against its anchor measured in the same run.

    python benchmarks/run.py            # or: make bench
    python benchmarks/run.py --quick    # fewer samples, no 1 GiB streaming run

From a clean clone it builds the anchors in cached virtualenvs (see ``anchors.py``): the
published ``evervault==5.1.3`` and Evervault's Rust attestation bindings (run under
Debian's ``faketime`` at each document's instant, since they read the wall clock). Then,
for every row, it alternates samples between this SDK and the row's anchor, so that
whatever else the machine is doing slows both alike, and reports the median of the paired
ratios:

* encryption against the published SDK (``benchmarks/sdk_driver.py`` in both
  interpreters, through the public ``evervault.init`` / ``evervault.encrypt``, keys served
  on a loopback ``/cages/key``) and against the floor: ``cryptography``'s
  ``AESGCM.encrypt`` of the same plaintexts with the key built once, plus ISA-L's CRC-32
  for files;
* attestation of a new connection on real AWS Nitro documents against the Rust bindings
  (``benchmarks/attestation_driver.py``);
* what only this SDK has: the facade-free engine, 1 GiB streaming (peak RSS), the
  emulator's document decrypt with and without its derived-key cache.

It prints one table, writes ``benchmarks/results.json`` and draws ``docs/benchmark.png``
(with matplotlib, when installed). No timing anywhere is a test assertion: the table says
whether each target is met.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
APP_ID = "app_0123456789ab"
API_KEY = "ev:key:1:3bCqtFAJzRJKD0yE1bJKoj:EoQSNv:benchmark-only"
GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024
VECTORS = REPO.parent / "shared" / "vectors" / "nitro"

sys.path.insert(0, str(REPO))

from benchmarks.anchors import (  # noqa: E402
    PUBLISHED_SDK,
    DriverProcess,
    attestation_driver,
    faketime_command,
    sdk_driver,
)
from benchmarks.engine_driver import app_private_key  # noqa: E402
from benchmarks.report import Row, chart, format_seconds, table  # noqa: E402
from evervault.domain.curves import Curve, compressed_point, uncompressed_point  # noqa: E402

PUBLISHED = "published 5.1.3"
OURS = "this SDK"
BINDINGS = "Rust bindings 0.5.0"
OURS_ATTEST = "this SDK (attestation)"


@dataclass(frozen=True)
class Group:
    """Cases measured together, alternating between processes round by round."""

    key: str
    batch: int
    samples: int
    members: tuple[tuple[str, str], ...]  # (process name, case)


# Encryption: each sample of this SDK lasts over ~10 ms, so the other process's turn (which
# evicts CPU caches) and timer resolution are noise, not signal.
ENCRYPT_GROUPS = [
    Group("short_string", 10000, 31, ((PUBLISHED, "short_string"), (OURS, "short_string"),
                                       (OURS, "floor_short_string"))),
    Group("short_string_role", 10000, 31, ((PUBLISHED, "short_string_role"), (OURS, "short_string_role"))),
    Group("dict_1000", 10, 21, ((PUBLISHED, "dict_1000"), (OURS, "dict_1000"), (OURS, "floor_dict_1000"))),
    Group("file_1m", 50, 21, ((PUBLISHED, "file_1m"), (OURS, "file_1m"), (OURS, "floor_file_1m_crc"))),
    Group("file_25m", 3, 15, ((PUBLISHED, "file_25m"), (OURS, "file_25m"), (OURS, "floor_file_25m_crc"))),
    Group("crc", 3, 9, ((OURS, "floor_crc32_zlib_25m"), (OURS, "floor_crc32_isal_25m"),
                        (PUBLISHED, "floor_file_25m"), (OURS, "floor_file_25m"))),
]
ATTESTATION_INSTANTS = {"ga": "2023-09-18 15:16:05Z", "beta": "2023-01-18 15:15:14Z"}
ATTESTATION_GROUPS = [
    Group(f"attest_{name}", 20, 15, ((f"{BINDINGS} {name}", f"{name}_connection"),
                                     (OURS_ATTEST, f"{name}_connection"), (OURS_ATTEST, f"{name}_first")))
    for name in ATTESTATION_INSTANTS
]
P, S, A = PUBLISHED, OURS, OURS_ATTEST  # short names keep the rows on one line each
ROWS = [
    Row("encrypt '4242424242424242'", (S, "short_string"), (P, "short_string"), "faster", 4.0),
    Row("encrypt '4242424242424242'", (S, "short_string"), (S, "floor_short_string"), "floor", 1.6),
    Row("same, with a data role", (S, "short_string_role"), (P, "short_string_role"), "faster", 4.0),
    Row("dict of 1,000 fields, per field", (S, "dict_1000"), (P, "dict_1000"), "faster", 4.0, per=1000),
    Row("dict of 1,000 fields, per field", (S, "dict_1000"), (S, "floor_dict_1000"), "floor", 1.6, per=1000),
    Row("1 MiB file", (S, "file_1m"), (P, "file_1m"), "faster", None),
    Row("1 MiB file", (S, "file_1m"), (S, "floor_file_1m_crc"), "floor", None),
    Row("25 MiB file", (S, "file_25m"), (P, "file_25m"), "faster", 5.0),
    Row("25 MiB file", (S, "file_25m"), (S, "floor_file_25m_crc"), "floor", 1.25),
    Row("attest a new connection (GA doc)", (A, "ga_connection"), (f"{BINDINGS} ga", "ga_connection"),
        "faster", 2.0),
    Row("attest a new connection (beta, SAN doc)", (A, "beta_connection"),
        (f"{BINDINGS} beta", "beta_connection"), "faster", 2.0),
    Row("emulator decrypt, 16 clients", ("emulator pool", "decrypt"),
        ("emulator 1 worker", "decrypt"), "faster", 1.6),
    Row("attest a session's first connection (GA)", (A, "ga_first"), (f"{BINDINGS} ga", "ga_connection"),
        "faster", None),
]


# --- the loopback key server ---------------------------------------------------------------


def keys_body() -> bytes:
    """``GET /cages/key`` as the Evervault API answers it, for the benchmark's fixed app keys."""
    k1 = app_private_key(Curve.SECP256K1).public_key()
    p256 = app_private_key(Curve.P256).public_key()
    body = {
        "appUuid": APP_ID,
        "teamUuid": "team_0123456789ab",
        "ecdhKey": base64.b64encode(compressed_point(k1)).decode(),
        "ecdhP256Key": base64.b64encode(compressed_point(p256)).decode(),
        "ecdhP256KeyUncompressed": base64.b64encode(uncompressed_point(p256)).decode(),
    }
    return json.dumps(body).encode()


@contextmanager
def key_server() -> Iterator[str]:
    """Serve the keys on 127.0.0.1; yields the API base URL (ending in '/')."""
    body = keys_body()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.split("?")[0] == "/cages/key"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if found else 2))
            self.end_headers()
            self.wfile.write(body if found else b"{}")

        def log_message(self, format: str, *args: Any) -> None:  # keep the table readable
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- this SDK's engine alone ---------------------------------------------------------------------


def run_engine(*args: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, str(BENCH_DIR / "engine_driver.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO),
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"engine_driver {args[0]} failed:\n{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def streaming(curve: Curve, size: int) -> dict[str, Any]:
    """Encrypt a sparse ``size``-byte file by streaming, then verify-and-decrypt it; delete both."""
    with tempfile.TemporaryDirectory(prefix="evervault-bench-") as directory:
        source = Path(directory) / "plain.bin"
        with open(source, "wb") as handle:
            handle.truncate(size)  # sparse: reads as zeros, costs no disk blocks
        encrypted = Path(directory) / "plain.bin.evenc"
        encrypt = run_engine("stream-encrypt", curve.value, str(source), str(encrypted))
        source.unlink()
        decrypt = run_engine("stream-decrypt", curve.value, str(encrypted))
    return {"size": size, "encrypt": encrypt, "decrypt": decrypt}


def _sdk_curve_name(curve: Curve) -> str:
    return "SECP256K1" if curve is Curve.SECP256K1 else "SECP256R1"


# --- measuring -----------------------------------------------------------------------------------


def measure(processes: dict[str, DriverProcess], groups: list[Group], scale: float) -> dict[str, list[float]]:
    """Samples per ``"process:case"``, the members of a group taking turns round by round."""
    samples: dict[str, list[float]] = {}
    for group in groups:
        members = [member for member in group.members if member[0] in processes]
        for index in range(max(5, int(group.samples * scale))):
            # Rotate who goes first, so no member always follows the same one.
            shift = index % len(members)
            for process, case in members[shift:] + members[:shift]:
                seconds = processes[process].ask(op="sample", case=case, batch=group.batch)["seconds"]
                samples.setdefault(f"{process}:{case}", []).append(seconds)
    return samples


def encryption(curve: Curve, scale: float) -> tuple[dict[str, list[float]], dict[str, Any]]:
    with key_server() as api_url, ExitStack() as stack:
        processes = {
            PUBLISHED: sdk_driver(PUBLISHED_SDK.python(), api_url, ours=False, name=PUBLISHED),
            OURS: sdk_driver(Path(sys.executable), api_url, ours=True, name=OURS),
        }
        for process in processes.values():
            stack.callback(process.close)
        infos = {}
        for name, process in processes.items():
            infos[name] = process.ask(op="init", app_id=APP_ID, api_key=API_KEY, curve=_sdk_curve_name(curve))
        expected_roots = {PUBLISHED: str(PUBLISHED_SDK.folder), OURS: str(REPO)}
        for name, info in infos.items():
            if not info["sdk_file"].startswith(expected_roots[name]):
                raise SystemExit(f"the {name} driver imported the wrong SDK: {info['sdk_file']}")
        samples = measure(processes, ENCRYPT_GROUPS, scale)
        memory = {name: process.ask(op="memory") for name, process in processes.items()}
    return samples, {"info": infos, "memory": memory}


def attestation(scale: float) -> tuple[dict[str, list[float]], str | None]:
    """Per-connection attestation; ``(samples, why not measured)``."""
    if not (VECTORS / "manifest.json").is_file():
        return {}, f"the AWS Nitro vectors are not at {VECTORS}"
    if faketime_command() is None:
        return {}, "Debian's faketime is not installed (apt-get install faketime)"
    samples: dict[str, list[float]] = {}
    for group, (name, instant) in zip(ATTESTATION_GROUPS, ATTESTATION_INSTANTS.items(), strict=True):
        with ExitStack() as stack:
            processes = {
                OURS_ATTEST: attestation_driver(ours=True, name=OURS_ATTEST),
                f"{BINDINGS} {name}": attestation_driver(ours=False, name=BINDINGS, fake_instant=instant),
            }
            for process_name, process in processes.items():
                stack.callback(process.close)
                cases = None if process_name == OURS_ATTEST else [f"{name}_connection"]
                process.ask(op="init", impl="ours" if process_name == OURS_ATTEST else "bindings",
                            vectors=str(VECTORS), cases=cases)
            samples.update(measure(processes, [group], scale))
    return samples, None


def emulator_load(quick: bool) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """``benchmarks/load_local.py``: the emulator's decryption pool against one worker.

    Its two configurations run one after the other (each a whole emulator process), so this
    row is a ratio of two runs, not of alternating samples; time per request is 1 / (req/s).
    """
    with tempfile.TemporaryDirectory(prefix="evervault-bench-") as directory:
        output = Path(directory) / "load.json"
        arguments = ["--json", str(output), *(["--requests", "96"] if quick else [])]
        subprocess.run([sys.executable, str(BENCH_DIR / "load_local.py"), *arguments], check=True,
                       stdout=subprocess.DEVNULL)
        runs: list[dict[str, Any]] = json.loads(output.read_text())
    anchor, pool = runs
    samples = {
        "emulator 1 worker:decrypt": [1 / anchor["requests_per_second"]],
        "emulator pool:decrypt": [1 / pool["requests_per_second"]],
    }
    return samples, runs


def emulator_lines(runs: list[dict[str, Any]]) -> list[str]:
    worst = max(run["health_p99_ms"] for run in runs)
    verdict = "met" if worst <= 100 else "MISSED"
    details = "; ".join(
        f"{run['label']}: {run['requests_per_second']:.1f} req/s, {run['correct']}/{run['sent']} correct, "
        f"{run['cores_used']:.2f} cores used" for run in runs
    )
    return [f"emulator under that load: /_local/health p99 {worst:.1f} ms (target <=100 ms: {verdict})",
            f"  {details}"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--curve", default="SECP256K1", help="SECP256K1 (default) or SECP256R1")
    parser.add_argument("--quick", action="store_true", help="fewer samples; skip the streaming run")
    parser.add_argument("--stream-size-mib", type=int, default=1024, help="size of the streaming run")
    parser.add_argument("--output", default=str(BENCH_DIR / "results.json"))
    parser.add_argument("--chart", default=str(REPO / "docs" / "benchmark.png"))
    args = parser.parse_args()
    curve = Curve.from_name(args.curve)
    scale = 0.25 if args.quick else 1.0

    samples, sdk = encryption(curve, scale)
    attestation_samples, attestation_skipped = attestation(scale)
    samples.update(attestation_samples)
    emulator_samples, emulator_runs = emulator_load(args.quick)
    samples.update(emulator_samples)
    engine = run_engine("engine", curve.value, str(scale))
    document = run_engine("decrypt-document", curve.value, "7" if args.quick else "31")
    stream = None if args.quick else streaming(curve, args.stream_size_mib * MIB)

    info = sdk["info"][OURS]
    header = (
        f"evervault benchmark: {platform.machine()}, {os.cpu_count()} CPUs, Python {info['python']}, "
        f"cryptography {info['cryptography']} (published env: {sdk['info'][PUBLISHED]['cryptography']}), "
        f"curve {curve.value}; medians of alternating samples; ratio = median of the paired ratios"
    )
    rows = [row for row in ROWS if f"{row.ours[0]}:{row.ours[1]}" in samples]
    results_table = table(rows, samples)
    lines = [header, *results_table.lines]
    if attestation_skipped:
        lines.append(f"(attestation rows not measured: {attestation_skipped})")
    lines += [
        *emulator_lines(emulator_runs),
        "",
        *crc_lines(samples),
        "",
        *engine_lines(engine),
        "",
        *memory_lines(sdk["memory"], stream),
        "",
        *decrypt_lines(document),
    ]
    print("\n".join(lines))
    results = {
        "curve": curve.value,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "rows": results_table.records,
        "samples": samples,
        "info": sdk["info"],
        "memory": sdk["memory"],
        "engine": engine,
        "decrypt_document": document,
        "streaming": stream,
        "emulator": emulator_runs,
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    drawn = chart(results_table.records, Path(args.chart), header)
    print(f"chart written to {args.chart}" if drawn else "chart not drawn: matplotlib is not installed")


def crc_lines(samples: dict[str, list[float]]) -> list[str]:
    def median(key: str) -> str:
        values = samples.get(key)
        return format_seconds(statistics.median(values)) if values else "n/a"

    aes, aes_published = median(f"{OURS}:floor_file_25m"), median(f"{PUBLISHED}:floor_file_25m")
    isal, zlib = median(f"{OURS}:floor_crc32_isal_25m"), median(f"{OURS}:floor_crc32_zlib_25m")
    return [
        "the floor's parts for 25 MiB (medians):",
        f"  AES-GCM alone {aes} (published env: {aes_published}), CRC-32 by ISA-L {isal}, by zlib {zlib}",
    ]


def engine_lines(engine: dict[str, float]) -> list[str]:
    cases = ", ".join(f"{key} {format_seconds(value)}" for key, value in sorted(engine.items()))
    return [f"the engine alone (Encryptor.encrypt, no facade): {cases}"]


def memory_lines(memory: dict[str, dict[str, int]], stream: dict[str, Any] | None) -> list[str]:
    lines = ["25 MiB file: peak extra Python-heap memory while encrypting (tracemalloc, result included):"]
    for name, figures in memory.items():
        peak, output = figures["peak_extra_bytes"], figures["output_bytes"]
        lines.append(
            f"  {name:<18} {peak / MIB:7.2f} MiB = {peak / output:.2f} x the {output / MIB:.2f} MiB output"
        )
    if stream is not None:
        size = stream["size"] / GIB
        for phase in ("encrypt", "decrypt"):
            figures = stream[phase]
            note = (
                " (two passes: tag verified before any plaintext is released)" if phase == "decrypt" else ""
            )
            lines.append(
                f"streaming {phase} of a {size:g} GiB file: peak RSS {figures['rss_peak'] / MIB:.1f} MiB "
                f"(interpreter and imports before streaming: {figures['rss_before'] / MIB:.1f} MiB), "
                f"{format_seconds(figures['seconds'])}{note}"
            )
    return lines


def decrypt_lines(document: dict[str, float]) -> list[str]:
    ratio = document["uncached"] / document["cached"]
    verdict = "met" if ratio >= 5 else "MISSED"
    return [
        "emulator-side decrypt of a 1,000-field document (one session key, a fresh Decryptor per run):",
        f"  derived-key cache {format_seconds(document['cached'])}, every value derived from scratch "
        f"{format_seconds(document['uncached'])}: {ratio:.1f}x (target >=5x: {verdict})",
    ]




if __name__ == "__main__":
    main()
