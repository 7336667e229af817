"""The emulator's certificate authority: a P-256 root kept in the data directory.

It plays the part of the Evervault Relay CA (docs/protocol.md §7.3.9): the emulator's CA
endpoint serves :attr:`LocalCA.cert_pem`, and the relay proxy presents leaf
certificates issued here, both for its own listening address and for every
destination whose TLS it terminates. Apps trust it exactly as they trust the real
Relay CA, by fetching it from the CA URL.

The root's private key is written with mode 0600. Leaf certificates live only in
memory, except that :mod:`ssl` can load a certificate chain only from files, so
:meth:`LocalCA.server_context` keeps the leaf it loads in ``<data dir>/relay-leaves``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evervault.domain.errors import ConfigurationError

CA_CERT_FILE = "relay-ca.pem"
CA_KEY_FILE = "relay-ca-key.pem"
LEAF_DIR = "relay-leaves"
CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=90)
# Certificates are back-dated a little so a client whose clock runs slightly behind accepts them.
CLOCK_SKEW = dt.timedelta(hours=1)
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

Clock = Callable[[], dt.datetime]


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
    ) -> None:
        self.certificate = certificate
        self._private_key = private_key
        self._data_dir = data_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._leaves: dict[tuple[str, ...], tuple[bytes, bytes]] = {}
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}

    def __repr__(self) -> str:
        return f"LocalCA(subject={self.certificate.subject.rfc4514_string()!r})"

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str], *, clock: Clock = utc_now) -> LocalCA:
        """The CA stored in ``data_dir``; a new one is created (and stored) if none is usable."""
        directory = Path(data_dir)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            loaded = _load(cert_path, key_path)
            if clock() < loaded[0].not_valid_after_utc - CLOCK_SKEW:
                return cls(*loaded, directory, clock=clock)
        certificate, private_key = _new_root(clock())
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        _write_private(key_path, _key_pem(private_key))
        _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return cls(certificate, private_key, directory, clock=clock)

    @property
    def cert_pem(self) -> bytes:
        """The root certificate, PEM-encoded (what the CA endpoint serves)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_leaf(self, hostnames: Sequence[str]) -> tuple[bytes, bytes]:
        """``(certificate chain PEM, private key PEM)`` for ``hostnames`` (cached per host set)."""
        names = _normalised(hostnames)
        with self._lock:
            leaf = self._leaves.get(names)
            if leaf is None or self._expired(leaf[0]):
                leaf = self._new_leaf(names)
                self._leaves[names] = leaf
                self._contexts.pop(names, None)
            return leaf

    def server_context(self, hostnames: Sequence[str]) -> ssl.SSLContext:
        """A TLS server context presenting a leaf for ``hostnames`` (cached per host set)."""
        names = _normalised(hostnames)
        cert_pem, key_pem = self.issue_leaf(names)
        with self._lock:
            context = self._contexts.get(names)
            if context is None:
                context = self._load_server_context(names, cert_pem, key_pem)
                self._contexts[names] = context
            return context

    # --- internals ---------------------------------------------------------------------

    def _expired(self, cert_pem: bytes) -> bool:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        return self._clock() >= certificate.not_valid_after_utc - CLOCK_SKEW

    def _new_leaf(self, names: tuple[str, ...]) -> tuple[bytes, bytes]:
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
        return chain, _key_pem(key)

    def _load_server_context(self, names: tuple[str, ...], cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        # ssl only loads certificate chains from files; these live in the data dir, 0600.
        leaf_dir = self._data_dir / LEAF_DIR
        leaf_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        stem = hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]
        path = leaf_dir / f"{stem}.pem"
        _write_private(path, cert_pem + key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(str(path))
        return context


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
