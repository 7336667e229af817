"""Checked by mypy (tests/typing/test_types.py), never run: what a type checker sees of the API."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import evervault
from evervault import AsyncClient, Client


def facade() -> None:
    assert_type(evervault.encrypt("4242"), str)
    assert_type(evervault.encrypt(42), str)
    assert_type(evervault.encrypt(4.5), str)
    assert_type(evervault.encrypt(True), str)
    assert_type(evervault.encrypt("4242", role="billing"), str)
    assert_type(evervault.encrypt(b"%PDF"), bytes)
    assert_type(evervault.encrypt(bytearray(b"%PDF")), bytes)
    assert_type(evervault.encrypt({"card": "4242"}), dict[str, Any])
    assert_type(evervault.encrypt([1, 2]), list[Any])
    assert_type(evervault.encrypt((1, "a")), tuple[Any, ...])
    assert_type(evervault.encrypt({1, 2}), set[str])
    assert_type(evervault.encrypt(frozenset({1})), frozenset[str])
    assert_type(evervault.decrypt(b"%EVENC"), bytes)
    assert_type(evervault.decrypt(bytearray(b"%EVENC")), bytes)
    assert_type(evervault.decrypt({"card": "ev:..."}), dict[str, Any])
    assert_type(evervault.decrypt(["ev:..."]), list[Any])
    assert_type(evervault.decrypt("ev:..."), Any)  # the string may hold a str, int, float or bool
    assert_type(evervault.reset(), None)


def client(c: Client) -> None:
    assert_type(c.encrypt("4242"), str)
    assert_type(c.encrypt(b"%PDF"), bytes)
    assert_type(c.encrypt({"card": "4242"}), dict[str, Any])
    assert_type(c.decrypt(b"%EVENC"), bytes)
    assert_type(c.decrypt({"card": "ev:..."}), dict[str, Any])


async def async_client(c: AsyncClient) -> None:
    assert_type(await c.encrypt("4242"), str)
    assert_type(await c.encrypt(b"%PDF"), bytes)
    assert_type(await c.encrypt({"card": "4242"}), dict[str, Any])
    assert_type(await c.decrypt(b"%EVENC"), bytes)
    assert_type(await c.decrypt([1]), list[Any])
