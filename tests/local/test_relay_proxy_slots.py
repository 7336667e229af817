"""The relay proxy's connection slots on their own: pending eviction, deadlines, authenticated slots."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import TypeAlias

import pytest

from evervault.local.relay_proxy import ConnectionSlots, ProxyLimits

Pairs: TypeAlias = list[tuple[socket.socket, socket.socket]]


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    created: Pairs = []
    yield created
    for ours, theirs in created:
        ours.close()
        theirs.close()


def pair(pairs: Pairs) -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.settimeout(30)
    pairs.append((ours, theirs))
    return ours, theirs


def test_full_pending_slots_drop_the_oldest(pairs: Pairs) -> None:
    slots = ConnectionSlots(ProxyLimits(max_pending=2))
    (first, first_peer), (second, _), (third, _) = pair(pairs), pair(pairs), pair(pairs)
    oldest = slots.admit(first)
    kept = [slots.admit(second), slots.admit(third)]
    assert slots.dropped_unauthenticated == 1
    assert first_peer.recv(1) == b""  # shut down: its worker returns
    assert not slots.authenticated(oldest)
    assert all(slots.authenticated(connection) for connection in kept)


def test_authenticated_slots_are_bounded_and_released(pairs: Pairs) -> None:
    slots = ConnectionSlots(ProxyLimits(max_connections=1))
    first, second = slots.admit(pair(pairs)[0]), slots.admit(pair(pairs)[0])
    assert slots.authenticated(first)
    assert slots.authenticated(first)  # asking again keeps the same slot
    assert first.sock.gettimeout() == ProxyLimits().idle_timeout
    assert not slots.authenticated(second)  # no slot free: the session answers 503
    slots.release(first)
    third = slots.admit(pair(pairs)[0])
    assert slots.authenticated(third)


def test_clients_past_their_deadline_are_dropped(pairs: Pairs) -> None:
    slots = ConnectionSlots(ProxyLimits(auth_timeout=1e-9))
    ours, peer = pair(pairs)
    connection = slots.admit(ours)
    deadline = connection.deadline
    while time.monotonic() <= deadline:
        time.sleep(0.001)
    slots.drop_expired()
    assert slots.dropped_unauthenticated == 1
    assert peer.recv(1) == b""
    assert not slots.upgrade(connection, ours)  # the TLS handshake finished too late
    assert not slots.authenticated(connection)
