"""``serve --max-file-bytes``: files have their own limit (they are spooled to disk), JSON keeps its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from evervault.domain.errors import ApiError
from tests.local.serve_process import serve


def test_files_and_json_bodies_have_separate_limits(tmp_path: Path) -> None:
    arguments = ["--data-dir", str(tmp_path / "d"), "--no-relay", "--max-body-bytes", "4000"]
    with serve(*arguments, "--max-file-bytes", "300000") as served:
        client = served.client()
        try:
            content = bytes(range(256)) * 800  # 204,800 bytes: over the body limit, under the file limit
            assert client.decrypt(client.encrypt(content)) == content
            with pytest.raises(ApiError) as too_large_file:
                client.decrypt(client.encrypt(content + content))
            assert too_large_file.value.status_code == 413
            with pytest.raises(ApiError) as too_large_json:
                client.decrypt(client.encrypt({"field": "x" * 5000}))
            assert too_large_json.value.status_code == 413
        finally:
            client.close()
        assert served.stop() == 0
