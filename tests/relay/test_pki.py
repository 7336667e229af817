"""The emulator's relay CA: persisted root, leaf certificates that verify for their hosts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification

from evervault.domain.errors import ConfigurationError
from evervault.local.pki import CA_CERT_FILE, CA_KEY_FILE, LocalCA


def verify_leaf(ca: LocalCA, chain_pem: bytes, name: x509.DNSName | x509.IPAddress) -> None:
    leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem)
    store = verification.Store([ca.certificate])
    verifier = verification.PolicyBuilder().store(store).build_server_verifier(name)
    verifier.verify(leaf, intermediates)


def test_the_root_is_created_once_and_reloaded_with_a_private_key_file(tmp_path: Path) -> None:
    created = LocalCA.load_or_create(tmp_path / "data")
    key_mode = stat.S_IMODE((tmp_path / "data" / CA_KEY_FILE).stat().st_mode)
    assert key_mode == 0o600
    reloaded = LocalCA.load_or_create(tmp_path / "data")
    assert reloaded.cert_pem == created.cert_pem
    assert created.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert created.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_an_expired_root_is_replaced(tmp_path: Path) -> None:
    old = LocalCA.load_or_create(tmp_path)
    later = old.certificate.not_valid_after_utc + dt.timedelta(days=1)
    renewed = LocalCA.load_or_create(tmp_path, clock=lambda: later)
    assert renewed.cert_pem != old.cert_pem


def test_leaves_verify_for_dns_names_and_ip_addresses_and_are_cached(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    chain, key = ca.issue_leaf(["LocalHost", "127.0.0.1"])
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----")
    verify_leaf(ca, chain, x509.DNSName("localhost"))
    verify_leaf(ca, chain, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    assert ca.issue_leaf(["localhost", "127.0.0.1"]) == (chain, key)
    assert ca.issue_leaf(["other.test"])[0] != chain


def test_server_context_completes_a_real_handshake(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    server_context = ca.server_context(["localhost"])
    assert server_context is ca.server_context(["localhost"])
    client_context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello")

    thread = threading.Thread(target=serve)
    thread.start()
    raw = socket.create_connection(listener.getsockname())
    with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.recv(5) == b"hello"
    thread.join()
    listener.close()


def test_a_mismatched_key_is_reported_with_what_to_do(tmp_path: Path) -> None:
    LocalCA.load_or_create(tmp_path / "a")
    LocalCA.load_or_create(tmp_path / "b")
    (tmp_path / "a" / CA_KEY_FILE).write_bytes((tmp_path / "b" / CA_KEY_FILE).read_bytes())
    with pytest.raises(ConfigurationError, match="delete"):
        LocalCA.load_or_create(tmp_path / "a")
    (tmp_path / "a" / CA_CERT_FILE).write_bytes(b"garbage")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        LocalCA.load_or_create(tmp_path / "a")


def test_a_leaf_needs_a_host(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        LocalCA.load_or_create(tmp_path).issue_leaf([" "])


def test_the_leaf_cache_is_a_bounded_lru_and_writes_nothing_to_disk(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, leaf_cache_size=8)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    first = ca.server_context(["host-0.example.com"])
    for n in range(1, 500):
        if n % 10:
            ca.issue_leaf([f"host-{n}.example.com"])
        else:
            ca.server_context([f"host-{n}.example.com"])
        ca.server_context(["host-0.example.com"])  # used again and again: stays cached
        assert ca.cached_leaves <= 8
    assert ca.server_context(["host-0.example.com"]) is first
    assert ca.leaves_issued == 500
    ca.issue_leaf(["host-1.example.com"])  # evicted long ago: issued anew
    assert ca.leaves_issued == 501
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # the CA files only


def test_an_expiring_cached_leaf_is_replaced(tmp_path: Path) -> None:
    now = [dt.datetime.now(dt.timezone.utc)]
    ca = LocalCA.load_or_create(tmp_path, clock=lambda: now[0])
    chain, _ = ca.issue_leaf(["renew.test"])
    now[0] += dt.timedelta(days=90)
    assert ca.issue_leaf(["renew.test"])[0] != chain


def test_a_cache_without_room_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        LocalCA.load_or_create(tmp_path, leaf_cache_size=0)
