"""Bulk encryption benchmark: rows/s on a generated CSV with 3 encrypted columns.

    python benchmarks/bulk.py                 # or: make bench-bulk
    python benchmarks/bulk.py --quick         # 100,000 rows, no 1 GiB run, no Spark

Rows measured, all in one run, on the same generated CSV (``--rows``, default 1,000,000):

* anchor: the published ``evervault==5.1.3`` (its own virtualenv, ``.bench-venv``, built as
  ``benchmarks/run.py`` builds it) in a plain ``csv`` reader/writer + ``evervault.encrypt``
  loop; timed on the first ``--anchor-rows`` rows (its rate does not depend on the count);
* ``evervault bulk encrypt`` with 1 process, 2 processes and all cores (wall time of the
  command, start-up included);
* ``evervault.bulk.dask`` on a ``LocalCluster`` (one single-threaded worker process per core),
  ``read_csv`` -> ``encrypt_dataframe`` -> ``to_csv``;
* ``evervault.bulk.spark`` on Spark ``local[*]``, ``read.csv`` -> ``encrypt_columns`` ->
  ``write.csv``, next to the same job without encryption (where Spark's time goes);
* peak RSS of every process of ``evervault bulk encrypt`` (all cores) on a 1 GiB CSV.

Keys come from a loopback key server (``benchmarks/run.py``'s); nothing leaves the machine.
Targets are checked in the printed table, never asserted. Results: benchmarks/results-bulk.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.anchors import PUBLISHED_SDK  # noqa: E402
from benchmarks.run import API_KEY, APP_ID, key_server  # noqa: E402

COLUMNS = ("card", "ssn", "email")
GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024

ANCHOR_LOOP = r"""
import csv, sys, time, evervault
source, target, columns, limit = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
evervault.init(sys.argv[5], sys.argv[6])
encrypt = evervault.encrypt
encrypt("warm-up")  # fetches the keys once, outside the timing
start = time.perf_counter()
rows = 0
with open(source, newline="") as src, open(target, "w", newline="") as dst:
    reader = csv.DictReader(src)
    writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
    writer.writeheader()
    for row in reader:
        for name in columns:
            row[name] = encrypt(row[name])
        writer.writerow(row)
        rows += 1
        if rows == limit:
            break
print(rows, time.perf_counter() - start)
"""


def generate_csv(path: Path, rows: int, padding: int = 0) -> int:
    """``id,name,card,ssn,email,country[,padding]`` rows; returns the file size."""
    pad = "p" * padding
    header = "id,name,card,ssn,email,country" + (",padding" if padding else "") + "\n"
    with path.open("w", encoding="ascii") as sink:
        sink.write(header)
        for start in range(0, rows, 10_000):
            block = []
            for i in range(start, min(rows, start + 10_000)):
                line = (
                    f"{i},Customer {i},{4242424242420000 + i},{i % 1_000_000_000:09d},user{i}@example.com,IE"
                )
                block.append(line + (f",{pad}\n" if padding else "\n"))
            sink.write("".join(block))
    return path.stat().st_size


def cli_env(api_url: str) -> dict[str, str]:
    return dict(os.environ, EV_API_URL=api_url, EV_APP_ID=APP_ID, EV_API_KEY=API_KEY, PYTHONPATH=str(REPO))


def run_cli(api_url: str, source: Path, target: Path, workers: int | None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "evervault",
        "bulk",
        "encrypt",
        "--in",
        str(source),
        "--out",
        str(target),
        "--columns",
        ",".join(COLUMNS),
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    start = time.perf_counter()
    peaks = _run_sampling_rss(command, cli_env(api_url))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peaks_mib": peaks}


def _run_sampling_rss(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``command``; peak RSS of it and of each of its child processes (sampled every 50 ms)."""
    import psutil

    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            for member in [watched, *watched.children(recursive=True)]:
                rss = member.memory_info().rss / MIB
                peaks[member.pid] = max(peaks.get(member.pid, 0.0), rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{command[3:6]} failed: {stderr}")
    parent = peaks.pop(process.pid, 0.0)
    return {"parent": parent, "max_worker": max(peaks.values(), default=0.0), "workers": len(peaks)}


def run_anchor(api_url: str, source: Path, target: Path, limit: int) -> dict[str, Any]:
    python = PUBLISHED_SDK.python()
    env = dict(os.environ, EV_API_URL=api_url)
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [
            str(python),
            "-c",
            ANCHOR_LOOP,
            str(source),
            str(target),
            ",".join(COLUMNS),
            str(limit),
            APP_ID,
            API_KEY,
        ],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"published SDK loop failed: {done.stderr}")
    rows, seconds = done.stdout.split()
    return {"rows": int(rows), "seconds": float(seconds)}


def key_spec(api_url: str) -> Any:
    from evervault.bootstrap.clients import Client
    from evervault.bulk import KeySpec

    with Client(APP_ID, API_KEY, base_url=api_url) as client:
        return KeySpec.from_client(client)


def run_dask(api_url: str, source: Path, target: Path, workers: int) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client as DaskClient
    from distributed import LocalCluster

    from evervault.bulk.dask import encrypt_dataframe

    spec = key_spec(api_url)
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        DaskClient(cluster),  # type: ignore[no-untyped-call]
    ):
        start = time.perf_counter()
        frame = dd.read_csv(str(source), dtype=str, keep_default_na=False, blocksize="8MB")
        encrypt_dataframe(frame, list(COLUMNS), spec).to_csv(str(target / "part-*.csv"), index=False)
        return {"seconds": time.perf_counter() - start}


def run_spark(api_url: str, source: Path, target: Path) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from evervault.bulk.spark import encrypt_columns

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spec = key_spec(api_url)
    start = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[*]")
        .appName("evervault-bulk-bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        spark.read.option("header", True).csv(str(source)).write.mode("overwrite").csv(str(target / "plain"))
        plain = time.perf_counter() - start
        start = time.perf_counter()
        frame = spark.read.option("header", True).csv(str(source))
        encrypt_columns(frame, list(COLUMNS), spec).write.mode("overwrite").csv(str(target / "encrypted"))
        encrypted = time.perf_counter() - start
    finally:
        spark.stop()
    return {"seconds": encrypted, "plain_seconds": plain, "startup_seconds": startup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--anchor-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-gib", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.rows, options.anchor_rows, options.skip_spark, options.skip_gib = 100_000, 20_000, True, True
    from evervault.bulk import default_workers

    cores = default_workers()
    work = Path(tempfile.mkdtemp(prefix="evervault-bulk-bench-"))
    results: dict[str, Any] = {"rows": options.rows, "cores": cores, "load_average": os.getloadavg()}
    try:
        source = work / "input.csv"
        results["input_bytes"] = generate_csv(source, options.rows)
        with key_server() as api_url:
            anchor = run_anchor(api_url, source, work / "anchor.csv", options.anchor_rows)
            results["anchor"] = anchor
            results["cli_1"] = run_cli(api_url, source, work / "cli1.csv", 1)
            results["cli_2"] = run_cli(api_url, source, work / "cli2.csv", 2)
            results["cli_all"] = (
                results["cli_2"] if cores == 2 else run_cli(api_url, source, work / "all.csv", None)
            )
            (work / "dask").mkdir()
            results["dask"] = run_dask(api_url, source, work / "dask", cores)
            if not options.skip_spark:
                results["spark"] = run_spark(api_url, source, work / "spark")
            if not options.skip_gib:
                for path in work.glob("*.csv"):
                    if path != source:
                        path.unlink()
                big = work / "gib.csv"
                results["gib_bytes"] = generate_csv(big, GIB // 1085, padding=1000)
                results["gib"] = run_cli(api_url, big, work / "gib-enc.csv", None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, options.rows)
    (REPO / "benchmarks" / "results-bulk.json").write_text(json.dumps(results, indent=2))


def print_table(results: dict[str, Any], rows: int) -> None:
    anchor = results["anchor"]["rows"] / results["anchor"]["seconds"]
    rate = {
        name: rows / results[name]["seconds"]
        for name in ("cli_1", "cli_2", "cli_all", "dask", "spark")
        if name in results
    }

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"\nbulk encryption, {rows:,} rows x {len(COLUMNS)} encrypted columns, {results['cores']} cores, "
        f"load average {results['load_average'][0]:.1f} at start (shared machine)\n"
    )
    print(f"| {'run':<42} | {'rows/s':>10} | {'vs anchor':>9} | target |")
    print(f"|{'-' * 44}|{'-' * 12}|{'-' * 11}|--------|")
    print(f"| {'published 5.1.3: csv + encrypt() loop':<42} | {anchor:>10,.0f} | {1:>8.1f}x |        |")
    labels = {
        "cli_1": "evervault bulk encrypt, 1 process",
        "cli_2": "evervault bulk encrypt, 2 processes",
        "cli_all": f"evervault bulk encrypt, all cores ({results['cores']})",
        "dask": "evervault.bulk.dask, LocalCluster",
        "spark": "evervault.bulk.spark, local[*]",
    }
    for name, label in labels.items():
        if name in rate:
            print(f"| {label:<42} | {rate[name]:>10,.0f} | {rate[name] / anchor:>8.1f}x |        |")
    print()
    print(
        f"all cores >= 6x anchor: {rate['cli_all'] / anchor:.1f}x  {verdict(rate['cli_all'] >= 6 * anchor)}"
    )
    print(
        f"1 -> 2 processes >= 1.7x: {rate['cli_2'] / rate['cli_1']:.2f}x  "
        f"{verdict(rate['cli_2'] >= 1.7 * rate['cli_1'])}"
    )
    print(
        f"Dask >= 0.7x CLI all cores: {rate['dask'] / rate['cli_all']:.2f}x  "
        f"{verdict(rate['dask'] >= 0.7 * rate['cli_all'])}"
    )
    if "spark" in results:
        spark = results["spark"]
        print(
            f"Spark: {spark['seconds']:.1f} s encrypted vs {spark['plain_seconds']:.1f} s "
            f"for the same read/write without encryption; "
            f"session start {spark['startup_seconds']:.1f} s (not counted)"
        )
    if "gib" in results:
        peaks = results["gib"]["peaks_mib"]
        worst = max(peaks["parent"], peaks["max_worker"])
        print(
            f"1 GiB CSV ({results['gib_bytes'] / GIB:.2f} GiB): peak RSS parent {peaks['parent']:.0f} MiB, "
            f"largest of {peaks['workers']} workers {peaks['max_worker']:.0f} MiB; < 256 MiB per process: "
            f"{verdict(worst < 256)}"
        )


if __name__ == "__main__":
    main()
