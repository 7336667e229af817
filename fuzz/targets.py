"""One fuzz target per parser. Each takes raw bytes; anything but a typed error is a crash.

Seeds are built here, from this repository's own encoders and the enclave simulator's
PKI, so the fuzzers start from valid inputs and mutate them.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import functools
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.adapters.system import default_encryptor
from evervault.domain import ciphertext, envelope, metadata
from evervault.domain.attestation import cbor
from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.attestation.chain import NitroTrustRoot, verify_chain
from evervault.domain.attestation.cose import decode_cose_sign1, verify_es384
from evervault.domain.attestation.document import parse_document
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import EvervaultError
from evervault.domain.relay import DomainRule, RelayPolicy, parse_poll_interval
from evervault.domain.streaming import FileDecryptor
from evervault.ports.http import Headers, HttpResponse
from evervault.services import api_responses
from evervault.services.http_errors import error_for_response


class FuzzFinding(AssertionError):
    """A defect: an untyped exception or a wrong answer (atheris reports it as a crash)."""


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    description: str


def typed_only(function: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """Swallow typed errors; anything else propagates and is a finding."""

    @functools.wraps(function)
    def guarded(data: bytes) -> None:
        with contextlib.suppress(EvervaultError):
            function(data)

    return guarded


# --- keys and seeds --------------------------------------------------------------------------


@functools.cache
def app_keys() -> dict[Curve, ec.EllipticCurvePrivateKey]:
    return {
        Curve.SECP256K1: ec.generate_private_key(ec.SECP256K1()),
        Curve.P256: ec.generate_private_key(ec.SECP256R1()),
    }


@functools.cache
def decryptor() -> Decryptor:
    return Decryptor(app_keys())


def encryptor(curve: Curve) -> Any:
    return default_encryptor(curve, compressed_point(app_keys()[curve].public_key()))


def text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass") if _is_utf8(data) else data.decode("latin-1")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def ev_string_seeds() -> list[bytes]:
    values: list[Any] = ["4242 4242 4242 4242", "", 12, -3.5, True, False, "é中🔒"]
    seeds = []
    for curve in (Curve.SECP256K1, Curve.P256):
        enc = encryptor(curve)
        for value in values:
            seeds.append(enc.encrypt(value).encode())
            seeds.append(enc.encrypt(value, "fuzz-role").encode())
    return seeds


def file_seeds() -> list[bytes]:
    seeds = []
    for curve in (Curve.SECP256K1, Curve.P256):
        enc = encryptor(curve)
        seeds += [enc.encrypt(b""), enc.encrypt(b"file contents " * 20), enc.encrypt(bytes(range(256)))]
    return seeds


def metadata_seeds() -> list[bytes]:
    return [
        metadata.encode_frame("fuzz-role", 1, 1_700_000_000) + b"plaintext",
        metadata.encode_frame(None, 2, 0),
        metadata.encode_map("r", 3, 2**31),
    ]


@functools.cache
def attestation_material() -> tuple[bytes, NitroTrustRoot, datetime]:
    from evervault.local.enclave import make_nitro_like_pki, sign_attestation_document, simulated_pcrs

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    pki = make_nitro_like_pki(now, intermediate_count=1)
    document = sign_attestation_document(
        pki, pcrs=simulated_pcrs(), user_data=b"\x01" * 32, timestamp_ms=int(now.timestamp() * 1000)
    )
    return document, NitroTrustRoot.for_testing_only(pki.root.der), now + timedelta(minutes=1)


def attestation_seeds() -> list[bytes]:
    document, _, _ = attestation_material()
    return [document, decode_cose_sign1(document).payload, b"\xa0", b"\x80", b"\xd2\x84\x40\xa0\x41\x00\x40"]


def certificate_seeds() -> list[bytes]:
    document, _root, _ = attestation_material()
    parsed = parse_document(decode_cose_sign1(document).payload)
    der = parsed.certificate
    pem = load_certificate(der).public_bytes(serialization.Encoding.PEM)
    return [der, pem, parsed.cabundle[0]]


def relay_seeds() -> list[bytes]:
    body = {
        "appUuid": "app_1234",
        "outboundDestinations": {
            "api.example.com": {"destinationDomain": "api.example.com", "id": 1},
            "*.wild.example": {"destinationDomain": "*.wild.example", "id": 2},
        },
    }
    return [b"5\n" + json.dumps(body).encode(), b"\n{}", b'0.05\n{"outboundDestinations": []}']


def api_error_seeds() -> list[bytes]:
    problem = {
        "type": "x",
        "title": "Forbidden",
        "status": 403,
        "detail": "no",
        "code": "functions/forbidden-ip",
    }
    return [
        b"\x01\x93" + json.dumps(problem).encode(),
        b"\x01\xf4" + b"<html>oops</html>",
        b"\x00\xc8" + json.dumps({"data": {"a": 1}}).encode(),
        b"\x00\xc8" + json.dumps({"status": "failure", "error": {"message": "m", "stack": "s"}}).encode(),
        b"\x01\xad" + json.dumps({"message": "legacy"}).encode(),
    ]


# --- targets ---------------------------------------------------------------------------------


@typed_only
def fuzz_ev_string(data: bytes) -> None:
    value = text(data)
    parsed = ciphertext.parse(value)
    if parsed.format() != value and not parsed.debug:
        # What parses must print back identically (base64 is canonical, unpadded).
        reparsed = ciphertext.parse(parsed.format())
        if reparsed != parsed:
            raise FuzzFinding(f"ev-string does not round-trip: {value[:60]!r}")
    decryptor().decrypt_parsed(parsed)


@typed_only
def fuzz_file(data: bytes) -> None:
    if envelope.is_encrypted_file(data):
        envelope.parse(data)
    whole: bytes | None = None
    try:
        whole = decryptor().decrypt_file(data).data
    except EvervaultError:
        whole = None
    streamed = bytearray()
    stream = FileDecryptor(app_keys())
    step = (data[-1] % 61 + 1) if data else 1
    try:
        for offset in range(0, len(data), step):
            streamed += stream.update(data[offset : offset + step])
        stream.finalize()
    except EvervaultError:
        if whole is not None:
            raise FuzzFinding("the streaming decryptor rejected a file the whole-file one accepted") from None
        return
    if whole is None or bytes(streamed) != whole:
        raise FuzzFinding("the streaming and whole-file decryptors disagree")


@typed_only
def fuzz_metadata(data: bytes) -> None:
    try:
        metadata.decode_map(data)
    finally:
        metadata.split_frame(data)


@typed_only
def fuzz_cbor(data: bytes) -> None:
    cbor.decode(data)


@typed_only
def fuzz_attestation_document(data: bytes) -> None:
    _, root, instant = attestation_material()
    try:
        message = decode_cose_sign1(data)
        payload = message.payload
    except EvervaultError:
        message, payload = None, data
    document = parse_document(payload)
    signing = verify_chain(document, instant, root)
    if message is not None:
        verify_es384(message, signing.public_key())


@typed_only
def fuzz_certificate(data: bytes) -> None:
    load_certificate(data, what="the fuzzed certificate")


@typed_only
def fuzz_relay_config(data: bytes) -> None:
    header, _, body = data.partition(b"\n")
    response = HttpResponse(200, Headers([("X-Poll-Interval", text(header))]), body)
    api_responses.relay_outbound_config(response)
    parse_poll_interval(text(header))
    for line in text(body).splitlines()[:8]:
        with contextlib.suppress(EvervaultError):
            DomainRule.parse(line)
        policy = RelayPolicy.build(["api.example.com", "*.wild.example"])
        policy.decide(line)


@typed_only
def fuzz_api_error_body(data: bytes) -> None:
    status = int.from_bytes(data[:2], "big") % 600 if len(data) >= 2 else 500
    headers = Headers([("Content-Type", "application/json"), ("x-evervault-error-code", text(data[2:6]))])
    response = HttpResponse(status, headers, data[2:])
    if not response.is_success:
        error = error_for_response(response)
        if not isinstance(error, EvervaultError) or not str(error):
            raise FuzzFinding(f"status {status} did not map to a typed error with a message")
        return
    for read in (
        api_responses.json_object,
        api_responses.decrypted_json,
        api_responses.function_run_result,
        api_responses.app_keys,
        api_responses.decrypted_bytes,
    ):
        with contextlib.suppress(EvervaultError):
            read(response)


# --- the emulator's HTTP handlers, in-process --------------------------------------------------

ENDPOINTS = (
    ("POST", "/decrypt"),
    ("POST", "/client-side-tokens"),
    ("POST", "/functions/echo/runs"),
    ("GET", "/functions/echo/runs/run_x"),
    ("POST", "/v2/functions/echo/run-token"),
    ("GET", "/v2/relay-outbound"),
    ("POST", "/run/echo"),
    ("GET", "/cages/key"),
    ("GET", "/ca.crt"),
    ("GET", "/_local/relay-destinations"),
    ("PUT", "/_local/relay-destinations"),
    ("POST", "/_local/api-keys"),
    ("GET", "/_local/health"),
)
CONTENT_TYPES = (
    "application/json",
    "application/octet-stream",
    "text/plain",
    "",
    "application/json; charset=latin-1",
)


class EmulatorHarness:
    """The emulator's aiohttp app on a loopback test server, driven from one event loop."""

    def __init__(self) -> None:
        from aiohttp.test_utils import TestClient, TestServer

        from evervault.local.server import create_app
        from evervault.local.state import LocalState

        self.data_dir = tempfile.mkdtemp(prefix="evervault-fuzz-")
        self.state = LocalState.load_or_create(self.data_dir)
        self.api_key = self.state.admin_key().value
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(create_app(self.state)), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())
        atexit.register(self.close)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def request(self, head: bytes, body: bytes) -> tuple[int, bytes, bytes]:
        """Send raw request bytes (so any header byte can be tried); status, Content-Type, body."""

        async def send() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.client.port)
            try:
                writer.write(head + b"\r\n" + body)
                await writer.drain()
                return await asyncio.wait_for(reader.read(), 30)
            finally:
                writer.close()

        raw = self.loop.run_until_complete(send())
        status_line, _, rest = raw.partition(b"\r\n")
        headers, _, content = rest.partition(b"\r\n\r\n")
        content_type = b""
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-type":
                content_type = value.strip()
        return int(status_line.split(b" ")[1]), content_type, content


@functools.cache
def emulator() -> EmulatorHarness:
    return EmulatorHarness()


def emulator_seeds() -> list[bytes]:
    ciphertexts = [seed.decode() for seed in ev_string_seeds()[:4]]
    bodies = [
        json.dumps({"data": ciphertexts}).encode(),
        json.dumps({"payload": {"a": ciphertexts[0]}, "expiry": 1}).encode(),
        json.dumps({"payload": {"a": 1}}).encode(),
        json.dumps(["api.example.com"]).encode(),
        json.dumps({"permissions": ["decrypt"]}).encode(),
        file_seeds()[1],
    ]
    seeds = [bytes([index, index % 4, 0, 0]) + body for index, body in enumerate(bodies)]
    # Raw credentials: an Api-Key value and an Authorization value of 10 bytes each.
    seeds.append(bytes([0, 0, 2, 14]) + b"ev:key:1:a:b:c" + bodies[0])
    seeds.append(bytes([0, 0, 3, 10]) + b"Basic YWJj" + bodies[0])
    return seeds


def header_bytes(data: bytes) -> bytes:
    """Any byte an HTTP parser accepts in a header value (no controls): visible ASCII, obs-text."""
    return bytes(byte for byte in data if byte == 9 or 32 <= byte != 127)


def fuzz_emulator_http(data: bytes, *, ascii_authorization: bool = False) -> None:
    """``ascii_authorization`` keeps the raw ``Authorization`` value ASCII (see tests/fuzz_properties)."""
    harness = emulator()
    selector = data[:4].ljust(4, b"\x00")
    method, path = ENDPOINTS[selector[0] % len(ENDPOINTS)]
    body = data[4 + selector[3] % 48 :]
    credential_bytes = header_bytes(data[4 : 4 + selector[3] % 48])
    lines = [
        f"{method} {path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        f"Content-Length: {len(body)}".encode(),
        f"Content-Type: {CONTENT_TYPES[selector[1] % len(CONTENT_TYPES)]}".encode(),
    ]
    credential = selector[2] % 5
    if credential == 0:
        lines.append(b"Api-Key: " + harness.api_key.encode())
    elif credential == 1:
        token = base64.b64encode(f"{harness.state.app_id}:{harness.api_key}".encode())
        lines.append(b"Authorization: Basic " + token)
    elif credential == 2:
        lines.append(b"Api-Key: " + credential_bytes)
    elif credential == 3:
        if ascii_authorization:
            credential_bytes = bytes(byte for byte in credential_bytes if byte < 128)
        lines.append(b"Authorization: " + credential_bytes)
    status, content_type, answer = harness.request(b"\r\n".join(lines) + b"\r\n", body)
    if status >= 500 and status != 503:
        raise FuzzFinding(f"{method} {path} answered {status}: {answer[:200]!r}")
    if status >= 400 and b"json" not in content_type:
        raise FuzzFinding(f"{method} {path} answered {status} without a Problem JSON body ({content_type!r})")


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("ev-string", fuzz_ev_string, ev_string_seeds, "ciphertext.parse + Decryptor"),
        Target("evenc-file", fuzz_file, file_seeds, "envelope.parse, Decryptor.decrypt_file, FileDecryptor"),
        Target("metadata", fuzz_metadata, metadata_seeds, "metadata.decode_map / split_frame"),
        Target("cbor", fuzz_cbor, attestation_seeds, "attestation.cbor.decode"),
        Target(
            "attestation-doc", fuzz_attestation_document, attestation_seeds, "COSE_Sign1, document, chain"
        ),
        Target("certificate", fuzz_certificate, certificate_seeds, "certificates.load_certificate"),
        Target("relay-config", fuzz_relay_config, relay_seeds, "relay-outbound body, poll interval, rules"),
        Target("api-error-body", fuzz_api_error_body, api_error_seeds, "http_errors + api_responses"),
        Target("emulator-http", fuzz_emulator_http, emulator_seeds, "the emulator's aiohttp handlers"),
    )
}
