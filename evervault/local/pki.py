"""The emulator's certificate authority: a P-256 root kept in the data directory.

It plays the part of the Evervault Relay CA (wire-format 7.3.9): the emulator's CA
endpoint serves :attr:`LocalCA.cert_pem`, and the relay proxy presents leaf
certificates issued here, both for its own listening address and for every
destination whose TLS it terminates. Apps trust it exactly as they trust the real
Relay CA, by fetching it from the CA URL.

The root's private key is written with mode 0600. Leaf certificates live only in
memory, in a bounded LRU cache (``leaf_cache_size`` host sets, 256 by default): a client
naming ever new hosts can make the CA issue more leaves, never hold more of them.
:mod:`ssl` loads a certificate chain only from a file name, so on Linux the leaf is
handed over through an anonymous in-memory file (``memfd``); elsewhere through a
private temporary file that is deleted as soon as it is loaded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evervault.domain.errors import ConfigurationError

CA_CERT_FILE = "relay-ca.pem"
CA_KEY_FILE = "relay-ca-key.pem"
DEFAULT_LEAF_CACHE_SIZE = 256
CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=90)
# Certificates are back-dated a little so a client whose clock runs slightly behind accepts them.
CLOCK_SKEW = dt.timedelta(hours=1)
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

Clock = Callable[[], dt.datetime]


@dataclass
class _Leaf:
    chain_pem: bytes
    key_pem: bytes
    not_after: dt.datetime
    context: ssl.SSLContext | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class LocalCA:
    """A root CA that issues TLS server certificates for any host name or IP address."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        data_dir: Path,
        *,
        clock: Clock = utc_now,
        leaf_cache_size: int = DEFAULT_LEAF_CACHE_SIZE,
    ) -> None:
        if leaf_cache_size < 1:
            raise ConfigurationError("The leaf certificate cache needs room for at least one entry.")
        self.certificate = certificate
        self._private_key = private_key
        self._data_dir = data_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._leaf_cache_size = leaf_cache_size
        self._leaves: OrderedDict[tuple[str, ...], _Leaf] = OrderedDict()
        self.leaves_issued = 0

    def __repr__(self) -> str:
        return f"LocalCA(subject={self.certificate.subject.rfc4514_string()!r})"

    @classmethod
    def load_or_create(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        leaf_cache_size: int = DEFAULT_LEAF_CACHE_SIZE,
    ) -> LocalCA:
        """The CA stored in ``data_dir``; a new one is created (and stored) if none is usable."""
        directory = Path(data_dir)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            loaded = _load(cert_path, key_path)
            if clock() < loaded[0].not_valid_after_utc - CLOCK_SKEW:
                return cls(*loaded, directory, clock=clock, leaf_cache_size=leaf_cache_size)
        certificate, private_key = _new_root(clock())
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        _write_private(key_path, _key_pem(private_key))
        _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return cls(certificate, private_key, directory, clock=clock, leaf_cache_size=leaf_cache_size)

    @property
    def cached_leaves(self) -> int:
        """How many leaves the cache holds now (at most ``leaf_cache_size``)."""
        with self._lock:
            return len(self._leaves)

    @property
    def cert_pem(self) -> bytes:
        """The root certificate, PEM-encoded (what the CA endpoint serves)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_leaf(self, hostnames: Sequence[str]) -> tuple[bytes, bytes]:
        """``(certificate chain PEM, private key PEM)`` for ``hostnames`` (cached per host set)."""
        leaf = self._leaf(_normalised(hostnames))
        return leaf.chain_pem, leaf.key_pem

    def server_context(self, hostnames: Sequence[str]) -> ssl.SSLContext:
        """A TLS server context presenting a leaf for ``hostnames`` (cached per host set)."""
        leaf = self._leaf(_normalised(hostnames))
        with self._lock:
            if leaf.context is None:
                leaf.context = _server_context(leaf.chain_pem, leaf.key_pem)
            return leaf.context

    # --- internals ---------------------------------------------------------------------

    def _leaf(self, names: tuple[str, ...]) -> _Leaf:
        """The cached leaf for ``names`` (a new one when missing or expiring), as most recent."""
        with self._lock:
            leaf = self._leaves.get(names)
            if leaf is None or self._clock() >= leaf.not_after - CLOCK_SKEW:
                leaf = self._new_leaf(names)
                self.leaves_issued += 1
            self._leaves[names] = leaf
            self._leaves.move_to_end(names)
            while len(self._leaves) > self._leaf_cache_size:
                self._leaves.popitem(last=False)
            return leaf

    def _new_leaf(self, names: tuple[str, ...]) -> _Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._clock()
        ca_public = self._private_key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(min(now + LEAF_LIFETIME, self.certificate.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
            .sign(self._private_key, hashes.SHA256())
        )
        chain = certificate.public_bytes(serialization.Encoding.PEM) + self.cert_pem
        return _Leaf(chain, _key_pem(key), certificate.not_valid_after_utc)


def _server_context(chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    _load_chain_from_memory(context, chain_pem + key_pem)
    return context


def _load_chain_from_memory(context: ssl.SSLContext, pem: bytes) -> None:
    """``load_cert_chain`` of PEM bytes that never reach a file system (Linux), or only briefly."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        descriptor = memfd_create("evervault-relay-leaf", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(descriptor, pem)
            # A fresh open of /proc/self/fd/N reads the in-memory file from its start.
            context.load_cert_chain(f"/proc/self/fd/{descriptor}")
        finally:
            os.close(descriptor)
        return
    with tempfile.TemporaryDirectory(prefix="evervault-leaf-") as directory:  # created 0700
        path = Path(directory) / "leaf.pem"
        _write_private(path, pem)
        context.load_cert_chain(str(path))


def _normalised(hostnames: Sequence[str]) -> tuple[str, ...]:
    if isinstance(hostnames, str):
        hostnames = [hostnames]
    names = tuple(dict.fromkeys(name.strip().lower().strip("[]") for name in hostnames if name.strip()))
    if not names:
        raise ConfigurationError("A certificate needs at least one host name or IP address.")
    return names


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _new_root(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evervault local emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Evervault Local Relay CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(
            f"The relay CA in {cert_path.parent} cannot be read ({type(error).__name__}); "
            f"delete {CA_CERT_FILE} and {CA_KEY_FILE} there to create a new one."
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
        raise ConfigurationError(
            f"The relay CA key in {key_path.parent} does not belong to its certificate; "
            f"delete {CA_CERT_FILE} and {CA_KEY_FILE} there to create a new pair."
        )
    return certificate, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    _write_atomically(path, data, PRIVATE_FILE_MODE)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write next to the target with ``mode`` from the start, then rename over it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(partial, mode)  # the umask may have removed bits from a 0644 request
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
