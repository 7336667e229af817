"""Decrypting the requests the relay proxy intercepts (docs/protocol.md §7.6).

Every ev-string is replaced by its plaintext: in header values, in JSON bodies (deep, with
typed results: numbers and booleans come back as JSON numbers and booleans), in
``application/x-www-form-urlencoded`` values and in any other UTF-8 text, where
percent-encoded ev-strings (``ev%3A...%3A%24``) are replaced by the percent-encoded
plaintext. A value that does not decrypt (another app's, tampered) is left as it is and
logged without its content. Compressed or binary bodies are never touched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from evervault.domain.ciphertext import Datatype, looks_encrypted
from evervault.domain.coercion import to_text
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import EvervaultError

logger = logging.getLogger("evervault.local.relay")

# Hop-by-hop headers (RFC 9110 7.6.1) and the relay's own credential never travel onwards.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# An ev-string, literal or with its separators percent-encoded (``%3A`` ``:``, ``%24`` ``$``,
# plus ``%2B``/``%2F`` inside base64). Matching stops at the first terminator, which no
# ev-string contains earlier.
_EV_TOKEN = re.compile(rb"ev(?::|%3[Aa])[A-Za-z0-9+/%:]{60,}?(?::|%3[Aa])(?:\$|%24)")
# The body is re-framed with a fresh Content-Length; Expect was answered by the relay itself.
_NOT_FORWARDED = HOP_BY_HOP | {b"content-length", b"expect"}
_HEADER_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?")


def decrypt_request(
    decryptor: Decryptor, headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers (hop-by-hop removed, ev-strings decrypted, framing reset) and the decrypted body."""
    headers = list(headers)
    had_body = any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)
    kept = [(name, value) for name, value in headers if name not in _NOT_FORWARDED]
    content_type = (header_value(kept, b"content-type") or "").lower()
    encoding = (header_value(kept, b"content-encoding") or "identity").lower()
    if encoding == "identity":
        body = decrypt_body(decryptor, content_type, body)
    decrypted = [(name, decrypt_header_value(decryptor, value)) for name, value in kept]
    if body or had_body:
        decrypted.append((b"content-length", str(len(body)).encode()))
    return decrypted, body


def decrypt_header_value(decryptor: Decryptor, value: bytes) -> bytes:
    replaced = substitute_tokens(decryptor, value)
    if replaced == value or (replaced and not _HEADER_VALUE.fullmatch(replaced)):
        return value  # plaintext that is not a legal header value (e.g. a line break) stays encrypted
    return replaced


def decrypt_body(decryptor: Decryptor, content_type: str, body: bytes) -> bytes:
    """Every ev-string in a JSON, form-encoded or text body; other bodies are returned as is."""
    if not body or b"ev" not in body:
        return body
    if "json" in content_type:
        decrypted = _decrypt_json(decryptor, body)
        if decrypted is not None:
            return decrypted
    if "application/x-www-form-urlencoded" in content_type:
        return _decrypt_form(decryptor, body)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body  # binary content: nothing that looks like text is touched
    return substitute_tokens(decryptor, body)


def substitute_tokens(decryptor: Decryptor, data: bytes) -> bytes:
    """Replace each ev-string (literal or percent-encoded) by its plaintext in the same encoding."""

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group(0)
        encoded = b"%" in token
        text = unquote(token.decode("ascii")) if encoded else token.decode("ascii")
        plaintext = _plaintext_text(decryptor, text)
        if plaintext is None:
            return token
        return quote(plaintext, safe="").encode("ascii") if encoded else plaintext.encode("utf-8")

    return _EV_TOKEN.sub(replace, data)


def _decrypt_json(decryptor: Decryptor, body: bytes) -> bytes | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    changed = [False]

    def walk(value: Any) -> Any:
        if isinstance(value, str) and looks_encrypted(value):
            decrypted = _typed_plaintext(decryptor, value)
            if decrypted is not _UNCHANGED:
                changed[0] = True
                return decrypted
            return value
        if isinstance(value, dict):
            return {walk_key(key): walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    def walk_key(key: str) -> str:
        plaintext = _plaintext_text(decryptor, key) if looks_encrypted(key) else None
        if plaintext is None:
            return key
        changed[0] = True
        return plaintext

    try:
        result = walk(document)
    except RecursionError:
        return None
    return json.dumps(result, ensure_ascii=False).encode("utf-8") if changed[0] else body


def _decrypt_form(decryptor: Decryptor, body: bytes) -> bytes:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return body
    changed = False
    decrypted: list[tuple[str, str]] = []
    for key, value in pairs:
        new_key = _plaintext_text(decryptor, key) if looks_encrypted(key) else None
        new_value = _plaintext_text(decryptor, value) if looks_encrypted(value) else None
        changed = changed or new_key is not None or new_value is not None
        decrypted.append((key if new_key is None else new_key, value if new_value is None else new_value))
    return urlencode(decrypted).encode("ascii") if changed else body


_UNCHANGED = object()


def _typed_plaintext(decryptor: Decryptor, text: str) -> Any:
    try:
        return decryptor.decrypt_string(text).value
    except EvervaultError as error:
        logger.warning("Relay proxy: an encrypted value could not be decrypted (%s)", type(error).__name__)
        return _UNCHANGED


def _plaintext_text(decryptor: Decryptor, text: str) -> str | None:
    """The plaintext as text (numbers and booleans in their encrypted form), or ``None``."""
    try:
        decrypted = decryptor.decrypt_string(text)
    except EvervaultError as error:
        logger.warning("Relay proxy: an encrypted value could not be decrypted (%s)", type(error).__name__)
        return None
    value = decrypted.value
    if value is None:
        return "null"
    if decrypted.datatype is Datatype.STRING and isinstance(value, str):
        return value
    return to_text(value)[1]


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
