"""The ``evervault-local`` console script and ``python -m evervault.local``.

The emulator runs on aiohttp and h11, which come with the ``local`` extra, not with a
plain ``pip install evervault-sdk``. This module imports only the standard library
before it checks for them, so a missing extra ends in one line naming the extra to
install (exit status 1) rather than a ``ModuleNotFoundError`` traceback from deep
inside the emulator.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

EXTRA_MODULES = ("aiohttp", "h11")
EXIT_MISSING_EXTRA = 1


def missing_extra_modules() -> list[str]:
    """The modules of the ``local`` extra that cannot be imported here."""
    return [name for name in EXTRA_MODULES if not _importable(name)]


def main(argv: Sequence[str] | None = None) -> int:
    missing = missing_extra_modules()
    if missing:
        print(
            f"evervault-local needs {' and '.join(missing)} (the 'local' extra): "
            "pip install 'evervault-sdk[local]' (from a checkout: pip install -e '.[local]')",
            file=sys.stderr,
        )
        return EXIT_MISSING_EXTRA
    from evervault.local.cli import main as cli_main  # needs the extra, so imported only now

    return cli_main(argv)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name (or a broken parent package)
        return False
