"""Drive the published ``evervault==5.1.3`` SDK from our tests, in its own virtualenv.

The published package is also called ``evervault``, so it can never share an
interpreter with ours: it lives in ``<repo>/.interop-venv`` (gitignored), built once
from the package index and reused, and is driven through
``published_sdk_driver.py`` in a subprocess that speaks JSON on stdin/stdout.

Usage::

    results = run_published_sdk(
        api_url=server.url_for("/"), app_id=APP_ID, api_key=API_KEY, curve=Curve.P256,
        items=[encrypt_call("hello"), encrypt_call({"a": 1}, role="my-role"), decrypt_call("ev:...")],
    )
    ciphertext = results[0].unwrap()

Against the local emulator, pass the ``api_url``, ``app_id`` and ``api_key`` from its
``serve`` JSON line; ``decrypt_call``, ``client_side_token_call``, ``run_call`` and
``run_token_call`` then exercise its other endpoints through the published SDK.

Set ``EVERVAULT_PUBLISHED_SDK_PYTHON`` to the interpreter of an existing environment
that has ``evervault==5.1.3`` to skip the build (e.g. on a machine without index access).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from evervault.domain.curves import Curve
from tests.support.published_sdk_driver import PROTOCOL_VERSION, decode_value, encode_value

PUBLISHED_VERSION = "5.1.3"
PUBLISHED_REQUIREMENT = f"evervault=={PUBLISHED_VERSION}"
REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".interop-venv"
DRIVER = Path(__file__).resolve().with_name("published_sdk_driver.py")
PYTHON_OVERRIDE_ENV = "EVERVAULT_PUBLISHED_SDK_PYTHON"
_READY_MARKER = f"evervault-{PUBLISHED_VERSION}.ready"
_BUILD_TIMEOUT_SECONDS = 600.0
_MAX_PARALLEL_PROCESSES = 4


class PublishedSdkUnavailableError(RuntimeError):
    """The published SDK's virtualenv could not be built or used."""


class PublishedSdkDriverError(RuntimeError):
    """The driver subprocess failed as a whole (crash, timeout, unusable job)."""


class PublishedSdkCallError(AssertionError):
    """A call that was expected to succeed raised inside the published SDK."""


# --- calls and results ---------------------------------------------------------------------


@dataclass(frozen=True)
class SdkCall:
    """One call on the published SDK's module-level API (``evervault.<op>(...)``)."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "args": {name: encode_value(value) for name, value in self.args.items()}}

    @property
    def isolation_key(self) -> tuple[str, str | None]:
        """Calls that may share one SDK process (see :func:`run_published_sdk`)."""
        if self.op == "encrypt":
            return ("encrypt", self.args.get("role"))
        return ("other", None)


def encrypt_call(value: Any, role: str | None = None) -> SdkCall:
    return SdkCall("encrypt", {"value": value, "role": role})


def decrypt_call(value: Any) -> SdkCall:
    return SdkCall("decrypt", {"value": value})


def client_side_token_call(payload: Any, expiry_epoch_seconds: float | None = None) -> SdkCall:
    return SdkCall("create_client_side_decrypt_token", {"payload": payload, "expiry": expiry_epoch_seconds})


def run_call(function_name: str, payload: Any, run_async: bool = False) -> SdkCall:
    return SdkCall("run", {"function_name": function_name, "payload": payload, "run_async": run_async})


def run_token_call(function_name: str, payload: Any) -> SdkCall:
    return SdkCall("create_run_token", {"function_name": function_name, "payload": payload})


@dataclass(frozen=True)
class SdkResult:
    """The outcome of one call: a value, or the published SDK's exception (type and message)."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None

    def unwrap(self) -> Any:
        if not self.ok:
            raise PublishedSdkCallError(f"the published SDK raised {self.error_type}: {self.error_message}")
        return self.value

    @classmethod
    def from_json(cls, node: Any) -> SdkResult:
        if not isinstance(node, dict) or not isinstance(node.get("ok"), bool):
            raise PublishedSdkDriverError(f"the driver returned a malformed result: {str(node)[:80]}")
        if node["ok"]:
            return cls(ok=True, value=decode_value(node.get("value")))
        error = node.get("error") or {}
        return cls(ok=False, error_type=str(error.get("type")), error_message=str(error.get("message")))


# --- running -----------------------------------------------------------------------------


def run_published_sdk(
    *,
    api_url: str,
    app_id: str,
    api_key: str,
    curve: Curve | str,
    items: Sequence[SdkCall],
    extra_env: Mapping[str, str] | None = None,
    timeout_seconds: float = 120.0,
) -> list[SdkResult]:
    """Run ``items`` on the published SDK; one result per item, in order.

    Each group of calls with the same :attr:`SdkCall.isolation_key` (encrypts with
    one role value, encrypts without a role, everything else) runs in its own process
    with its own ``evervault.init``. Why: the published SDK decides whether to apply
    the KDF when it generates its ephemeral key, then reuses that key for 15 s whatever
    the role of later calls (docs/protocol.md §9.1), so on secp256k1 a role-bearing encrypt
    after a role-less one (or the reverse) in one window produces an undecryptable
    ciphertext. Isolating the groups keeps the corpus free of that known defect, which
    our SDK does not reproduce and so must not be asked to decrypt.
    """
    if not api_url.endswith("/"):
        raise ValueError("api_url must end with '/': the published SDK appends paths without a separator")
    groups = _isolation_groups(items)
    python = published_sdk_python()
    env = _driver_env(api_url, extra_env)
    init = {"app_id": app_id, "api_key": api_key, "curve": Curve.from_name(curve).value}
    by_index: dict[int, SdkResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(_MAX_PARALLEL_PROCESSES, len(groups)))) as pool:
        futures = {
            pool.submit(_run_driver, python, init, [items[i] for i in indexes], env, timeout_seconds): indexes
            for indexes in groups
        }
        for future, indexes in futures.items():
            by_index.update(zip(indexes, future.result(), strict=True))
    return [by_index[index] for index in range(len(items))]


def run_published_sdk_process(
    *,
    api_url: str,
    app_id: str,
    api_key: str,
    curve: Curve | str,
    items: Sequence[SdkCall],
    extra_env: Mapping[str, str] | None = None,
    timeout_seconds: float = 120.0,
) -> list[SdkResult]:
    """Run ``items`` in order in ONE process after ONE ``evervault.init`` (no isolation).

    Use this only to observe the published SDK's behaviour across calls (for example its
    15-s key reuse); :func:`run_published_sdk` is the safe default.
    """
    if not api_url.endswith("/"):
        raise ValueError("api_url must end with '/': the published SDK appends paths without a separator")
    init = {"app_id": app_id, "api_key": api_key, "curve": Curve.from_name(curve).value}
    env = _driver_env(api_url, extra_env)
    return _run_driver(published_sdk_python(), init, list(items), env, timeout_seconds)


def _isolation_groups(items: Sequence[SdkCall]) -> list[list[int]]:
    groups: dict[tuple[str, str | None], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.isolation_key, []).append(index)
    return list(groups.values())


def _driver_env(api_url: str, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    # Start from the caller's environment minus every EV_* variable, so a developer's
    # shell settings (relay host, file-size limit, ...) cannot change what is tested.
    env = {name: value for name, value in os.environ.items() if not name.startswith("EV_")}
    env["EV_API_URL"] = api_url
    env.update(extra_env or {})
    return env


def _run_driver(
    python: Path,
    init: Mapping[str, str],
    calls: Sequence[SdkCall],
    env: Mapping[str, str],
    timeout_seconds: float,
) -> list[SdkResult]:
    job = {"protocol": PROTOCOL_VERSION, "init": dict(init), "calls": [call.to_json() for call in calls]}
    # -I: isolated mode, so neither our repository (whose package is also named
    # ``evervault``) nor PYTHONPATH/user site-packages can shadow the published SDK.
    try:
        completed = subprocess.run(
            [str(python), "-I", str(DRIVER)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=dict(env),
            cwd=str(python.parent),
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PublishedSdkDriverError(
            f"the published SDK did not finish {len(calls)} calls within {timeout_seconds:.0f} s"
        ) from None
    if completed.returncode != 0:
        raise PublishedSdkDriverError(
            f"the published SDK driver exited with status {completed.returncode}:\n{_tail(completed.stderr)}"
        )
    return _parse_results(completed.stdout, expected=len(calls))


def _parse_results(stdout: str, *, expected: int) -> list[SdkResult]:
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError:
        raise PublishedSdkDriverError(f"the driver printed no JSON result: {stdout[:200]!r}") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        raise PublishedSdkDriverError(f"the driver returned {results!r:.80} instead of {expected} results")
    return [SdkResult.from_json(node) for node in results]


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- the virtualenv --------------------------------------------------------------------------


def published_sdk_python() -> Path:
    """The interpreter of an environment with the published SDK, building it on first use.

    Cached per process, failures included (so a broken build is reported by every
    interop test without each one retrying it); across processes (pytest-xdist
    workers, parallel runs) a file lock makes exactly one of them build while the
    others wait and then reuse it.
    """
    outcome = _published_sdk_python_outcome()
    if isinstance(outcome, PublishedSdkUnavailableError):
        raise PublishedSdkUnavailableError(str(outcome))
    return outcome


@cache
def _published_sdk_python_outcome() -> Path | PublishedSdkUnavailableError:
    try:
        return locate_published_sdk_python(os.environ.get(PYTHON_OVERRIDE_ENV), VENV_DIR)
    except PublishedSdkUnavailableError as error:
        return error


def locate_published_sdk_python(override: str | None, venv_dir: Path) -> Path:
    """``override`` if given (checked), else the venv at ``venv_dir``, built when missing or broken."""
    if override:
        python = Path(override)
        _require_published_sdk(python, source=f"${PYTHON_OVERRIDE_ENV}")
        return python
    with _build_lock(venv_dir):
        python = _venv_python(venv_dir)
        if (venv_dir / _READY_MARKER).exists() and _has_published_sdk(python):
            return python
        _build_venv(venv_dir)
        _require_published_sdk(python, source=str(venv_dir))
        (venv_dir / _READY_MARKER).write_text(PUBLISHED_REQUIREMENT + "\n")
        return python


@contextlib.contextmanager
def _build_lock(venv_dir: Path) -> Iterator[None]:
    # The lock lives in the temp directory, keyed by the venv path: inside the venv it
    # would be deleted by a rebuild, and next to it it would clutter the work tree.
    digest = hashlib.sha256(str(venv_dir).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"evervault-interop-venv-{digest}.lock"
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _build_venv(venv_dir: Path) -> None:
    python = _venv_python(venv_dir)
    _checked_run([sys.executable, "-m", "venv", "--clear", str(venv_dir)], venv_dir, "create the virtualenv")
    _checked_run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         PUBLISHED_REQUIREMENT],
        venv_dir,
        f"pip install {PUBLISHED_REQUIREMENT} (needs access to PyPI or your configured index)",
    )


def _checked_run(command: Sequence[str], venv_dir: Path, purpose: str) -> None:
    try:
        completed = subprocess.run(
            list(command), capture_output=True, text=True, timeout=_BUILD_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PublishedSdkUnavailableError(_build_failure(venv_dir, purpose, str(error))) from None
    if completed.returncode != 0:
        detail = completed.stderr or completed.stdout
        raise PublishedSdkUnavailableError(_build_failure(venv_dir, purpose, detail))


def _build_failure(venv_dir: Path, purpose: str, detail: str) -> str:
    return (
        f"Could not {purpose} for the interop tests in {venv_dir}.\n{_tail(detail)}\n"
        f"Fix the cause above and re-run, or point ${PYTHON_OVERRIDE_ENV} at the python of an "
        f"environment that already has {PUBLISHED_REQUIREMENT}."
    )


_VERSION_PROBE = (
    "import importlib.metadata as m, evervault; "
    f"raise SystemExit(0 if m.version('evervault') == {PUBLISHED_VERSION!r} else 3)"
)


def _has_published_sdk(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-I", "-c", _VERSION_PROBE], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def _require_published_sdk(python: Path, *, source: str) -> None:
    if not _has_published_sdk(python):
        raise PublishedSdkUnavailableError(
            f"{python} (from {source}) cannot import {PUBLISHED_REQUIREMENT}; "
            f"install it there, or unset ${PYTHON_OVERRIDE_ENV} to let the tests build {VENV_DIR.name}."
        )
