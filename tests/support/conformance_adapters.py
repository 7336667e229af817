"""The commands that run the three shipped conformance adapters, preparing their environments.

* this SDK: the current interpreter (which has this repository installed);
* the published Python SDK: the cached ``.interop-venv`` of :mod:`tests.support.published_sdk`;
* the Node SDK: ``npm ci`` in ``conformance/adapters/node`` (cached ``node_modules``, gitignored;
  installed once under a file lock, reinstalled when ``package-lock.json`` changes).

:class:`AdapterUnavailableError` says why an adapter cannot run here (no Node, no registry),
so tests can skip with that reason and the script can print it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.published_sdk import PublishedSdkUnavailableError, published_sdk_python

REPO_ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = REPO_ROOT / "conformance" / "adapters"
NODE_ADAPTER_DIR = ADAPTERS / "node"
_NPM_TIMEOUT_SECONDS = 600.0
_STAMP = ".installed-lock-sha256"


class AdapterUnavailableError(RuntimeError):
    """An adapter's runtime or SDK cannot be installed or found on this machine."""


def this_sdk_command() -> str:
    return shlex.join([sys.executable, str(ADAPTERS / "python" / "adapter.py")])


def published_python_command() -> str:
    try:
        python = published_sdk_python()
    except PublishedSdkUnavailableError as error:
        raise AdapterUnavailableError(f"the published Python SDK is unavailable: {error}") from None
    return shlex.join([str(python), "-I", str(ADAPTERS / "python-published" / "adapter.py")])


def node_command() -> str:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise AdapterUnavailableError("Node.js and npm are not on PATH (the Node adapter needs both)")
    _install_node_sdk(npm)
    return shlex.join([node, str(NODE_ADAPTER_DIR / "adapter.js")])


def _install_node_sdk(npm: str) -> None:
    lock = (NODE_ADAPTER_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock).hexdigest()
    stamp = NODE_ADAPTER_DIR / "node_modules" / _STAMP
    with _file_lock(NODE_ADAPTER_DIR):
        if stamp.exists() and stamp.read_text().strip() == digest:
            return
        try:
            completed = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_ADAPTER_DIR,
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise AdapterUnavailableError(f"npm ci failed in {NODE_ADAPTER_DIR}: {error}") from None
        if completed.returncode != 0:
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
            raise AdapterUnavailableError(
                f"npm ci failed in {NODE_ADAPTER_DIR} (is the npm registry reachable?):\n{tail}"
            )
        stamp.write_text(digest + "\n")


@contextlib.contextmanager
def _file_lock(directory: Path) -> Iterator[None]:
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"evervault-conformance-npm-{digest}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
