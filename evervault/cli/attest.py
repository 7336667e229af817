"""``evervault attest``: verify Nitro attestation documents offline or against a live host.

    evervault attest verify --cert FILE [--doc FILE] [--pcrs JSON] [--at UNIX_SECONDS] [--json]
    evervault attest url https://host[:port] [--pcrs JSON] [--json]

Prints ``valid`` (exit 0) or ``invalid: <kind>: <reason>`` (exit 1); with ``--json`` one JSON
object instead (same exit codes). Usage and I/O errors print ``error: ...`` (exit 2); a
``--pcrs`` that is malformed or would check nothing (``null``, ``{}``, ``[]``,
``{"pcr_8": null}``, ``[{}]``) is such a usage error. Without ``--pcrs`` the document, chain,
signature and TLS binding are still verified, and stderr says that no PCRs were checked.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import socket
import ssl
import sys
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from evervault.bootstrap.attestation import ca_certificates, well_known_document
from evervault.cli import UsageError
from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.attestation.chain import NitroTrustRoot
from evervault.domain.attestation.cose import COSE_SIGN1_TAG
from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.hosts import WELL_KNOWN_PATH
from evervault.domain.attestation.policy import (
    PCR_INDEX_BY_FIELD,
    AnyOf,
    PcrPolicy,
    UnsafeSkipPcrChecks,
    pcr_policy_from,
)
from evervault.domain.attestation.san import document_from_certificate, has_embedded_document
from evervault.domain.attestation.verifier import verify
from evervault.domain.errors import AttestationError, InvalidPCRsError

_CBOR_ARRAY_OF_4 = 0x84
_CBOR_TAG_18 = 0xC0 | COSE_SIGN1_TAG


def register(commands: Any) -> None:
    """Add the ``attest`` group to the top-level subparsers."""
    attest = commands.add_parser("attest", help="verify AWS Nitro attestation documents")
    actions = attest.add_subparsers(dest="attest_command", required=True, metavar="ACTION")
    _register_verify(actions)
    _register_url(actions)


def _register_verify(actions: Any) -> None:
    parser = actions.add_parser("verify", help="verify a certificate (and document) offline")
    parser.add_argument("--cert", required=True, help="TLS certificate, PEM or DER")
    parser.add_argument("--doc", help="COSE_Sign1 document, raw or base64 (default: cert SAN)")
    _add_common_options(parser)
    parser.add_argument("--at", type=int, help="verify at this instant (Unix seconds)")
    parser.set_defaults(handler=run_verify)


def _register_url(actions: Any) -> None:
    parser = actions.add_parser("url", help="attest a live enclave endpoint")
    parser.add_argument("url", help="https://host[:port]")
    _add_common_options(parser)
    parser.add_argument("--ca-bundle", help="PEM file trusted for the TLS certificate")
    parser.add_argument("--connect-to", help="IP:PORT to dial instead of resolving the host")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.set_defaults(handler=run_url)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pcrs",
        metavar="JSON",
        help='expected PCRs as JSON: {"pcr_8": "..."} or a list of such sets (roll-over); '
        "without it no PCRs are checked, and stderr says so",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object: {"valid", "kind", "reason", "pcrs_checked", ...}',
    )
    parser.add_argument(
        "--trust-root-for-testing-only",
        metavar="PEM",
        help="trust this root instead of the AWS Nitro root (simulators only)",
    )


def run_verify(arguments: argparse.Namespace) -> int:
    at = _instant(arguments.at)
    policy = _policy(arguments.pcrs)
    try:
        trust_root = _trust_root(arguments.trust_root_for_testing_only)
        certificate = load_certificate(_read(arguments.cert), what=arguments.cert)
        document = (
            decode_document_file(_read(arguments.doc))
            if arguments.doc
            else document_from_certificate(certificate)
        )
        verified = verify(document, certificate, at=at, policy=policy, trust_root=trust_root)
    except AttestationError as failure:
        return _report(arguments, policy, failure)
    return _report(arguments, policy, verified)


def run_url(arguments: argparse.Namespace) -> int:
    host, port = _https_origin(arguments.url)
    address = _address(arguments.connect_to) or (host, port)
    if not 0 < arguments.timeout < math.inf:
        raise UsageError(f"--timeout must be a positive number of seconds, got {arguments.timeout}")
    policy = _policy(arguments.pcrs)
    try:
        trust_root = _trust_root(arguments.trust_root_for_testing_only)
        certificate = _peer_certificate(host, address, arguments.ca_bundle, arguments.timeout)
        document = _live_document(certificate, host, port, address, arguments.ca_bundle)
        verified = verify(document, certificate, at=_instant(None), policy=policy, trust_root=trust_root)
    except AttestationError as failure:
        return _report(arguments, policy, failure)
    return _report(arguments, policy, verified)


def decode_document_file(data: bytes) -> bytes:
    """Raw COSE bytes as they are; anything else is taken as base64 of them."""
    if data[:1] in (bytes([_CBOR_ARRAY_OF_4]), bytes([_CBOR_TAG_18])):
        return data
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data  # neither form: let the verifier report it as malformed CBOR


def _report(
    arguments: argparse.Namespace, policy: PcrPolicy, outcome: AttestationDocument | AttestationError
) -> int:
    """Print the verdict (text or JSON); exit status 0 for valid, 1 for invalid."""
    if not policy.checks_pcrs:
        print(
            "note: no PCRs were checked (pass --pcrs JSON to check the enclave's measurements)",
            file=sys.stderr,
        )
    valid = isinstance(outcome, AttestationDocument)
    if arguments.json:
        print(json.dumps(verdict_json(policy, outcome)))
    elif isinstance(outcome, AttestationError):
        print(f"invalid: {outcome.kind}: {outcome.reason}")
    else:
        print("valid")
    return 0 if valid else 1


def verdict_json(policy: PcrPolicy, outcome: AttestationDocument | AttestationError) -> dict[str, Any]:
    """The ``--json`` object: the verdict, what was checked, and the document when valid."""
    failure = outcome if isinstance(outcome, AttestationError) else None
    document = outcome if isinstance(outcome, AttestationDocument) else None
    return {
        "valid": failure is None,
        "kind": None if failure is None else failure.kind,
        "reason": None if failure is None else failure.reason,
        "pcrs_checked": policy.checks_pcrs,
        "expected_pcrs": (
            [alternative.expected() for alternative in policy.alternatives]
            if isinstance(policy, AnyOf)
            else None
        ),
        "document": None if document is None else _document_summary(document),
    }


def _document_summary(document: AttestationDocument) -> dict[str, Any]:
    """What a caller needs to pin this enclave: its module, timestamp and checkable PCRs."""
    return {
        "module_id": document.module_id,
        "timestamp_ms": document.timestamp_ms,
        "pcrs": {name: document.pcr_hex(index) for name, index in PCR_INDEX_BY_FIELD.items()},
    }


def _https_origin(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``https://host[:port]`` URL, or a usage error."""
    problem = UsageError(f"{url!r} is not an https://host[:port] URL")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:  # a bad IPv6 literal or a port out of range
        raise problem from None
    if parts.scheme != "https" or not parts.hostname:
        raise problem
    return parts.hostname, port


def _instant(unix_seconds: int | None) -> datetime:
    if unix_seconds is None:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(unix_seconds, timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise UsageError(f"--at {unix_seconds} is not a representable Unix time ({exc})") from None


def _policy(pcrs_json: str | None) -> PcrPolicy:
    """The policy ``--pcrs`` asks for; without it, explicitly none (reported on stderr)."""
    if pcrs_json is None:
        return UnsafeSkipPcrChecks()
    try:
        value = json.loads(pcrs_json)
    except ValueError as exc:
        raise UsageError(f"--pcrs is not valid JSON ({exc})") from None
    try:
        return pcr_policy_from(value)
    except InvalidPCRsError as exc:
        if exc.checks_nothing:
            raise UsageError(
                f"--pcrs {_shortened(pcrs_json)} would check no PCRs; give at least one set such "
                'as {"pcr_8": "<96 hex characters>"}, or omit --pcrs to verify without checking PCRs'
            ) from None
        raise UsageError(f"--pcrs: {exc.reason}") from None


def _shortened(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _trust_root(path: str | None) -> NitroTrustRoot:
    return NitroTrustRoot.aws() if path is None else NitroTrustRoot.for_testing_only(_read(path))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _address(connect_to: str | None) -> tuple[str, int] | None:
    if connect_to is None:
        return None
    ip, _, port = connect_to.rpartition(":")
    if not ip or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--connect-to must be IP:PORT (port 1-65535), got {connect_to!r}")
    return ip, int(port)


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_certificates(ca_bundle))


def _peer_certificate(
    host: str, address: tuple[str, int], ca_bundle: str | None, timeout: float
) -> x509.Certificate:
    try:
        with (
            socket.create_connection(address, timeout=timeout) as raw,
            _tls_context(ca_bundle).wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError as exc:
        raise UsageError(f"cannot open a TLS connection to {host} at {address}: {exc}") from exc
    if der is None:
        raise UsageError(f"{host} presented no certificate")
    return load_certificate(der, what=f"the TLS certificate of {host}")


def _live_document(
    certificate: x509.Certificate,
    host: str,
    port: int,
    address: tuple[str, int],
    ca_bundle: str | None,
) -> bytes:
    """Seed-era certificates carry the document; later hosts serve it at the well-known URL."""
    if has_embedded_document(certificate):
        return document_from_certificate(certificate)
    return well_known_document(
        f"https://{host}:{port}{WELL_KNOWN_PATH}", ca_bundle=ca_bundle, address_override={host: address}
    )
