"""One builder per vector file; ``build_all`` runs them in the order the files are written."""

from __future__ import annotations

from collections.abc import Callable

from .common import Json
from .der import build_der
from .files import build_files
from .invalid import build_invalid
from .keys import build_keys
from .metadata import build_metadata
from .strings import build_strings

BUILDERS: dict[str, Callable[[], Json]] = {
    "keys.json": build_keys,
    "der.json": build_der,
    "metadata.json": build_metadata,
    "strings.json": build_strings,
    "files.json": build_files,
    "invalid.json": build_invalid,
}


def build_all() -> dict[str, Json]:
    """Every vector file's document, keyed by file name."""
    return {name: build() for name, build in BUILDERS.items()}
