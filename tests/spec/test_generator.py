"""The vector generator's command and the independence of its reference implementation.

tests/spec/test_vectors.py already checks that ``build_all`` reproduces the committed
files; here: the command-line entry points, and that the reference side of the generator
(fixed inputs and the reference implementation) never loads the package it checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"


def run_python(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def test_reference_side_never_imports_evervault() -> None:
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import spec_generator.inputs, spec_generator.reference\n"
        "from spec_generator.reference import StringInputs, ref_seal\n"
        "text = ref_seal(StringInputs('secp256k1', 'RFVC', 'app-1', bytes([0x22]) * 32,"
        " bytes(range(1, 13)), 'string', b'hello')).text\n"
        "loaded = sorted(m for m in sys.modules if m == 'evervault' or m.startswith('evervault.'))\n"
        "print(text == spec_generator.inputs.DOC_STRINGS[0])\n"
        "print(loaded)\n"
    )
    result = run_python("-c", probe)
    assert result.returncode == 0, result.stderr
    sealed, loaded = result.stdout.splitlines()
    # The first published ev-string: the reference reproduces it without our package loaded.
    assert sealed == "True"
    assert loaded == "[]"


def test_check_command_passes_on_the_committed_vectors() -> None:
    result = run_python("scripts/generate_spec.py", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_module_entry_point_is_the_same_command() -> None:
    result = run_python("-m", "spec_generator", "--help", cwd=SCRIPTS)
    assert result.returncode == 0, result.stderr
    assert "--check" in result.stdout
    assert "Write the conformance vectors in ``spec/``" in result.stdout
