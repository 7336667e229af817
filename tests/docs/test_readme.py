"""The README runs as written: every ``python`` and ``sh`` code block is executed.

Conventions (a README author's guide):

* ``python`` blocks run in document order in one shared namespace (later blocks use names
  earlier ones define, as a reader would), in a temporary working directory, with
  ``EV_API_URL``, ``EV_CERT_HOSTNAME``, ``EV_TUNNEL_HOSTNAME``, ``EV_APP_ID`` and
  ``EV_API_KEY`` pointing at a real emulator started for this module. ``evervault.init`` is
  undone after each block (``evervault.reset()``) unless a later block needs it, which is
  why every block that uses the facade calls ``init`` first or follows the ``init`` block.
* ``sh`` blocks run as ``sh -e`` scripts, one after another in one temporary directory, with
  ``.venv/bin`` first on ``PATH``, no ``EV_*`` variables, and ``EVERVAULT_LOCAL_PORT=0`` so
  that ``serve`` picks free ports (tests run side by side). Whatever a block leaves running
  in the background is stopped when it ends.
* A block preceded by ``<!-- readme-test: pytest -->`` is a test file: it is written into a
  new temporary project and run with pytest in a subprocess (the plugin comes from the
  installed entry point).
* A block that cannot run offline or here (installs packages, talks to Evervault's hosted
  services, needs files this repository does not ship) is preceded by
  ``<!-- readme-test: skip (reason) -->``; the reason is shown as the skip reason.
* Blocks in other languages (``json``, ``console`` transcripts, untagged) are not run.

Every ``python``/``sh`` block either runs or carries a visible skip marker: a block the
test does not know how to treat fails :func:`test_every_runnable_block_is_accounted_for`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
BIN = Path(sys.executable).parent
RUNNABLE = ("python", "sh")
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(skip|pytest)\s*(?:\((.*)\))?\s*-->\s*$")
BLOCK_TIMEOUT = 240


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    code: str
    marker: str | None  # "skip" or "pytest"
    reason: str = ""

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def readme_blocks(text: str) -> list[Block]:
    """Fenced code blocks with the marker comment right before them (blank lines allowed)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, language = fence.group(1), fence.group(2)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[index + 1 : end]]
        marker, reason = _marker_before(lines, index)
        blocks.append(Block(index + 1, language, "\n".join(body) + "\n", marker, reason))
        index = end + 1
    return blocks


def _marker_before(lines: list[str], fence_index: int) -> tuple[str | None, str]:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None, ""
    found = _MARKER.match(lines[previous])
    if found is None:
        return None, ""
    return found.group(1), (found.group(2) or "").strip()


BLOCKS = readme_blocks(README.read_text("utf-8"))


def _select(language: str) -> list[Any]:
    selected = []
    for block in BLOCKS:
        if block.language != language or block.marker == "pytest":
            continue
        marks = [pytest.mark.skip(reason=block.reason or "marked skip")] if block.marker == "skip" else []
        selected.append(pytest.param(block, id=block.name, marks=marks))
    return selected


def test_every_runnable_block_is_accounted_for() -> None:
    assert BLOCKS, "no code blocks found in README.md"
    for block in BLOCKS:
        if block.language in RUNNABLE:
            continue
        assert block.marker is None, f"{block.name}: readme-test markers only apply to python/sh blocks"
    skipped = [block for block in BLOCKS if block.marker == "skip"]
    assert all(block.reason for block in skipped), "every skip marker says why: skip (reason)"
    assert sum(block.language == "python" and block.marker is None for block in BLOCKS) >= 10
    assert sum(block.language == "sh" and block.marker is None for block in BLOCKS) >= 3


# --- python blocks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def emulator_environment(workdir: Path) -> Iterator[dict[str, str]]:
    from evervault.local.runner import BackgroundEmulator, EmulatorOptions

    with BackgroundEmulator(EmulatorOptions(data_dir=str(workdir / ".ev-local"))) as info:
        yield {**info.environment(), "EV_APP_ID": info.app_id, "EV_API_KEY": info.api_key}


@pytest.fixture(scope="module")
def namespace() -> Iterator[dict[str, Any]]:
    import evervault

    shared: dict[str, Any] = {"__name__": "__readme__"}
    yield shared
    evervault.reset()


@pytest.mark.parametrize("block", _select("python"))
def test_python_block(
    block: Block,
    namespace: dict[str, Any],
    workdir: Path,
    emulator_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in emulator_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(workdir)
    code = compile(block.code, block.name, "exec")
    exec(code, namespace)  # the README's own examples, run as a reader would


# --- sh blocks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shell_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme-sh")


@pytest.mark.parametrize("block", _select("sh"))
def test_sh_block(block: Block, shell_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EV_") and k != "PYTHONPATH"}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", EVERVAULT_LOCAL_PORT="0")
    # Output goes to files, not pipes: a server left in the background keeps a pipe open.
    out_path, err_path = shell_dir / ".stdout", shell_dir / ".stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            ["sh", "-e", "-c", block.code],
            cwd=shell_dir,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: background servers are stopped with it
        )
        try:
            process.wait(timeout=BLOCK_TIMEOUT)
        finally:
            _stop_group(process)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert process.returncode == 0, (
        f"{block.name} failed:\n{block.code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    )
    assert "Traceback" not in stderr, stderr


def _stop_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the block's process group and wait until it is gone (servers release their
    data-directory lock on exit, and the next block may use the same directory)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    if process.poll() is None:
        process.kill()
        process.wait()
    deadline = time.monotonic() + BLOCK_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


# --- pytest blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.name) for b in BLOCKS if b.marker == "pytest"] or [pytest.param(None)]
)
def test_pytest_block_runs_in_a_separate_project(block: Block | None, tmp_path: Path) -> None:
    assert block is not None, "the README shows the pytest plugin with a <!-- readme-test: pytest --> block"
    (tmp_path / "test_readme_example.py").write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EV_") and k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
