"""docs/migrating-from-evervault-5.md covers every public name of the published 5.1.3 package,
and each of them exists here under the same name (a drop-in replacement needs nothing else)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import evervault

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "migrating-from-evervault-5.md"
# Names of the published package that are its implementation, not its API.
PUBLISHED_INTERNALS = {"metadata", "os", "sys", "warn", "warnings", "ev_client"}
# Published public names this SDK deliberately provides elsewhere (the guide says where).
PROVIDED_ELSEWHERE = {"AttestationDoc", "PcrManager", "CageRequestsSession", "EnclaveRequestsSession"}

pytestmark = pytest.mark.interop

_LIST_NAMES = (
    "import json, evervault, types\n"
    "print(json.dumps(sorted(n for n, v in vars(evervault).items() if not n.startswith('_')"
    " and not isinstance(v, types.ModuleType) and not n.isupper())))\n"
)


def _published_public_names(published_sdk: Path, cwd: Path) -> list[str]:
    # Outside the repository and without PYTHONPATH, or `import evervault` would find this SDK.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(published_sdk), "-c", _LIST_NAMES],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names: list[str] = json.loads(result.stdout)
    return [name for name in names if name not in PUBLISHED_INTERNALS]


def test_the_guide_names_every_public_name_of_5_1_3_and_each_exists_here(
    published_sdk: Path, tmp_path: Path
) -> None:
    guide = GUIDE.read_text("utf-8")
    names = _published_public_names(published_sdk, tmp_path)
    assert "AsyncClient" not in names  # really the published package
    assert {"init", "encrypt", "decrypt", "run", "create_run_token", "enable_outbound_relay"} <= set(names)
    for name in names:
        assert f"`{name}" in guide or f".{name}" in guide, f"the migration guide does not mention {name}"
        if name not in PROVIDED_ELSEWHERE:
            assert hasattr(evervault, name), f"evervault.{name} (public in 5.1.3) is missing here"


def test_the_readme_links_the_guide() -> None:
    assert "(docs/migrating-from-evervault-5.md)" in (REPO_ROOT / "README.md").read_text("utf-8")
