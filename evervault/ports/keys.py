"""The key-source port: where an app's public encryption keys come from.

The service layer fetches them over HTTP (``GET {api}cages/key``); tests and
offline tools may plug in a fixed set instead.
"""

from __future__ import annotations

from typing import Protocol

from evervault.domain.keys import AppKeys


class AppKeySource(Protocol):
    """Returns the app's public keys (blocking); raises an ``EvervaultError`` on failure."""

    def fetch_app_keys(self) -> AppKeys: ...


class AsyncAppKeySource(Protocol):
    """Returns the app's public keys (asyncio); raises an ``EvervaultError`` on failure."""

    async def fetch_app_keys(self) -> AppKeys: ...
