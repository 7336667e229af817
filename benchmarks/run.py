"""This SDK against the published ``evervault==5.1.3``, side by side (issue 7).

    python benchmarks/run.py            # or: make bench
    python benchmarks/run.py --quick    # fewer repetitions, no 1 GiB streaming run

What it does, from a clean clone:

1. Builds the published SDK in its own virtualenv, ``.bench-venv`` at the repository
   root (cached: reused while it imports ``evervault`` 5.1.3; delete it to rebuild).
2. Serves fixed app public keys at ``/cages/key`` on a loopback HTTP server; both SDKs
   find it through ``EV_API_URL``, fetch the keys once, and never touch the network.
3. Runs ``benchmarks/sdk_driver.py`` twice, one process per SDK: the published SDK
   under the bench virtualenv's Python, this one under the Python running this script
   (with the repository on ``PYTHONPATH``). Same script, same inputs, same public calls.
4. Runs ``benchmarks/engine_driver.py`` for what only this SDK has: the facade-free
   engine, 1 GiB streaming encryption and two-pass decryption (peak RSS in a fresh
   process each), and the emulator-side decrypt of a 1,000-field document with and
   without the derived-key cache.
5. Prints a table of medians and ratios and writes ``benchmarks/results.json``.

No timing here is an assertion: the table says whether each issue-7 target is met.
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
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
VENV = REPO / ".bench-venv"
PUBLISHED_REQUIREMENT = "evervault==5.1.3"
PUBLISHED_VERSION = "5.1.3"
APP_ID = "app_0123456789ab"
API_KEY = "ev:key:1:3bCqtFAJzRJKD0yE1bJKoj:EoQSNv:benchmark-only"
GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024

sys.path.insert(0, str(REPO))

from benchmarks.engine_driver import app_private_key  # noqa: E402
from evervault.domain.curves import Curve, compressed_point, uncompressed_point  # noqa: E402

# (key, label, issue-7 target as "at least N times faster than the published SDK")
SDK_ROWS = [
    ("short_string", "encrypt '4242424242424242'", 4.0),
    ("short_string_role", "same, with a data role", 4.0),
    ("dict_1000", "dict of 1,000 str/int fields", 4.0),
    ("file_1m", "1 MiB file", None),
    ("file_25m", "25 MiB file", 5.0),
]


# --- the published SDK's virtualenv ------------------------------------------------------


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def published_sdk_python() -> Path:
    """The bench virtualenv's Python, building the virtualenv first if needed."""
    python = venv_python()
    if python.exists() and _installed_version(python) == PUBLISHED_VERSION:
        return python
    print(f"building {VENV.name} with {PUBLISHED_REQUIREMENT} (once; cached) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PUBLISHED_REQUIREMENT,
        ],
        check=True,
    )
    if _installed_version(python) != PUBLISHED_VERSION:
        raise SystemExit(f"{VENV} does not import evervault {PUBLISHED_VERSION} after installing it")
    return python


def _installed_version(python: Path) -> str | None:
    probe = "import importlib.metadata as m, evervault; print(m.version('evervault'))"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


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


# --- running the drivers -----------------------------------------------------------------------

# (case, calls per sample, samples): each sample of this SDK lasts over ~10 ms, so the
# other process's turn (which evicts CPU caches) and timer resolution are noise, not signal.
SDK_CASES = [
    ("short_string", 10000, 31),
    ("short_string_role", 10000, 31),
    ("dict_1000", 10, 21),
    ("file_1m", 50, 21),
    ("file_25m", 3, 15),
    ("floor_short_string", 20000, 15),
    ("floor_file_1m", 50, 15),
    ("floor_file_25m", 3, 15),
    ("floor_crc32_zlib_25m", 3, 15),
    ("floor_crc32_isal_25m", 3, 15),
]


class SdkProcess:
    """One long-lived ``sdk_driver.py`` process: one JSON command per line, one reply per line."""

    def __init__(self, python: Path, api_url: str, our_sdk: bool) -> None:
        env = dict(os.environ, EV_API_URL=api_url, EV_MAX_FILE_SIZE_IN_MB="25")
        env.pop("PYTHONPATH", None)
        if our_sdk:
            env["PYTHONPATH"] = str(REPO)
        self.name = "this SDK" if our_sdk else f"published {PUBLISHED_VERSION}"
        # A neutral working directory: the published SDK must never import this repository's package.
        self._process = subprocess.Popen(
            [str(python), str(BENCH_DIR / "sdk_driver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        self.expected_root = str(REPO) if our_sdk else str(VENV)

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} driver exited (see its error output above)")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self._process.poll() is None and self._process.stdin is not None:
            self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self._process.stdin.close()
        self._process.wait(timeout=30)


def measure_side_by_side(
    published: SdkProcess, ours: SdkProcess, curve: Curve, scale: float
) -> dict[str, Any]:
    """Alternate samples between the two SDKs so background load hits both alike.

    Each published sample is paired with the adjacent sample of this SDK; the ratio
    reported is the median of those paired ratios, so a burst of load on the machine
    (which slows one pair) does not move it.
    """
    infos = {}
    for side in (published, ours):
        info = side.ask(op="init", app_id=APP_ID, api_key=API_KEY, curve=_sdk_curve_name(curve))
        if not info["sdk_file"].startswith(side.expected_root):
            raise SystemExit(f"the {side.name} driver imported the wrong SDK: {info['sdk_file']}")
        infos[side.name] = info
    timings: dict[str, dict[str, float]] = {published.name: {}, ours.name: {}}
    samples: dict[str, dict[str, list[float]]] = {published.name: {}, ours.name: {}}
    ratios: dict[str, float] = {}
    for case, batch, sample_count in SDK_CASES:
        sides = [side for side in (published, ours) if case in infos[side.name]["cases"]]
        collected: dict[str, list[float]] = {side.name: [] for side in sides}
        for index in range(max(5, int(sample_count * scale))):
            for side in sides if index % 2 == 0 else reversed(sides):
                collected[side.name].append(side.ask(op="sample", case=case, batch=batch)["seconds"])
        for name, values in collected.items():
            timings[name][case] = statistics.median(values)
            samples[name][case] = values
        if len(sides) == 2:
            pairs = zip(collected[published.name], collected[ours.name], strict=True)
            ratios[case] = statistics.median(theirs / mine for theirs, mine in pairs)
    return {
        "info": infos,
        "timings": timings,
        "paired_ratios": ratios,
        "samples": samples,
        "memory": {side.name: side.ask(op="memory") for side in (published, ours)},
    }


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


# --- report ------------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def sdk_table(
    theirs: dict[str, float], mine: dict[str, float], ratios: dict[str, float], engine: dict[str, float]
) -> list[str]:
    lines = [
        f"{'case':<30} {'published':>11} {'this SDK':>10} {'ratio':>7}  {'target':<12} "
        f"{'engine only':>11} {'AES-GCM floor':>13}",
    ]
    for key, label, target in SDK_ROWS:
        ratio = ratios[key]
        verdict = "" if target is None else f">={target:g}x " + ("met" if ratio >= target else "MISSED")
        floor = mine.get(f"floor_{key}")
        lines.append(
            f"{label:<30} {format_seconds(theirs[key]):>11} {format_seconds(mine[key]):>10} {ratio:>6.2f}x  "
            f"{verdict:<12} {format_seconds(engine[key]) if key in engine else '':>11} "
            f"{format_seconds(floor) if floor is not None else '':>13}"
        )
    return lines


def floor_lines(side_by_side: dict[str, Any], published_name: str, our_name: str) -> list[str]:
    infos, timings = side_by_side["info"], side_by_side["timings"]
    lines = [
        "cryptography alone (AES-GCM with the cipher object reused, 12-byte IV; CRC-32 of 25 MiB):",
        f"  {'':<24} {'this SDK env':>14} {'published env':>14}",
        f"  {'cryptography version':<24} {infos[our_name]['cryptography']:>14} "
        f"{infos[published_name]['cryptography']:>14}",
    ]
    for key in (
        "floor_short_string",
        "floor_file_1m",
        "floor_file_25m",
        "floor_crc32_zlib_25m",
        "floor_crc32_isal_25m",
    ):
        ours = timings[our_name].get(key)
        theirs = timings[published_name].get(key)
        lines.append(
            f"  {key.removeprefix('floor_'):<24} {format_seconds(ours) if ours else 'n/a':>14} "
            f"{format_seconds(theirs) if theirs else 'n/a':>14}"
        )
    return lines


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--curve", default="SECP256K1", help="SECP256K1 (default) or SECP256R1")
    parser.add_argument("--quick", action="store_true", help="fewer samples; skip the streaming run")
    parser.add_argument("--stream-size-mib", type=int, default=1024, help="size of the streaming run")
    parser.add_argument("--output", default=str(BENCH_DIR / "results.json"))
    args = parser.parse_args()
    curve = Curve.from_name(args.curve)
    scale = 0.25 if args.quick else 1.0

    published_python = published_sdk_python()
    with key_server() as api_url:
        published = SdkProcess(published_python, api_url, our_sdk=False)
        ours = SdkProcess(Path(sys.executable), api_url, our_sdk=True)
        try:
            side_by_side = measure_side_by_side(published, ours, curve, scale)
        finally:
            published.close()
            ours.close()
    engine = run_engine("engine", curve.value, str(scale))
    document = run_engine("decrypt-document", curve.value, "7" if args.quick else "31")
    stream = None if args.quick else streaming(curve, args.stream_size_mib * MIB)

    theirs = side_by_side["timings"][published.name]
    mine = side_by_side["timings"][ours.name]
    info = side_by_side["info"][ours.name]
    lines = [
        f"evervault encrypt benchmark: {platform.machine()}, {os.cpu_count()} CPUs, Python {info['python']}, "
        f"curve {curve.value}; medians of alternating samples; ratio = median of paired "
        "published / this SDK",
        *sdk_table(theirs, mine, side_by_side["paired_ratios"], engine),
        "",
        *floor_lines(side_by_side, published.name, ours.name),
        "",
        *memory_lines(side_by_side["memory"], stream),
        "",
        *decrypt_lines(document),
    ]
    print("\n".join(lines))
    results = {
        "curve": curve.value,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "side_by_side": side_by_side,
        "ratios": {key: side_by_side["paired_ratios"][key] for key, _, _ in SDK_ROWS},
        "targets": {key: target for key, _, target in SDK_ROWS},
        "engine": engine,
        "decrypt_document": document,
        "streaming": stream,
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.output}")


if __name__ == "__main__":
    main()
