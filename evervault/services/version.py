"""The SDK's version, as sent in ``User-Agent: evervault-python/<version>``."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION_NAME = "evervault-sdk"
# Same fallback as the published SDK when the package metadata is missing
# (e.g. running from a source checkout that was never installed).
FALLBACK_VERSION = "0.0.0"


def _installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


SDK_VERSION = _installed_version()
USER_AGENT = f"evervault-python/{SDK_VERSION}"
