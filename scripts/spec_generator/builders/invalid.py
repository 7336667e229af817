"""invalid.json: strings and files every SDK must reject, with the kind of error."""

from __future__ import annotations

import base64
import functools
import struct
from collections.abc import Callable, Iterator

from ..crosscheck import ERROR_KINDS, domain_decryptor, errors
from ..inputs import EPH_ALT, EPH_DOC, IV_DOC, K1, P256, PYTHON_ORIGIN, ROLE, TS_DOC
from ..reference import (
    VERSIONS,
    FileInputs,
    StringInputs,
    b64_unpadded,
    ref_file,
    ref_map,
    ref_points,
    ref_seal,
    with_crc,
)
from .common import Json


def _replace_segment(text: str, index: int, new: str) -> str:
    segments = text.split(":")
    segments[index] = new
    return ":".join(segments)


def _flip_base64_char(segment: str, position: int) -> str:
    """Change one base64 character so the decoded bytes change but stay canonical."""
    char = segment[position]
    replacement = "B" if char != "B" else "C"
    return segment[:position] + replacement + segment[position + 1 :]


def invalid_strings() -> Iterator[tuple[str, str, str, str]]:
    """(id, input, error kind, note)."""
    k1 = ref_seal(StringInputs(K1, "RFVC", "app-1", EPH_DOC, IV_DOC, "string", b"hello")).text
    k1_num = ref_seal(StringInputs(K1, "RFVC", "app-1", EPH_DOC, IV_DOC, "number", b"42")).text
    p256 = ref_seal(StringInputs(P256, "Tk9D", "app-1", EPH_DOC, IV_DOC, "string", b"hello")).text
    frame = ref_map(ROLE, PYTHON_ORIGIN, TS_DOC)
    s0ls = ref_seal(StringInputs(K1, "S0lS", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame)).text
    qktc = ref_seal(StringInputs(P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame)).text
    qktc_num = ref_seal(StringInputs(P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "number", b"42", frame)).text
    iv, epk, ct = k1.split(":")[2:5]

    grammar = [
        ("empty", "", "not an ev-string at all"),
        ("plain-text", "hello", "not an ev-string at all"),
        ("no-suffix", k1[:-2], "missing the ':$' terminator"),
        ("upper-prefix", "EV" + k1[2:], "the prefix is case-sensitive"),
        ("trailing-newline", k1 + "\n", "nothing may follow ':$'"),
        ("leading-space", " " + k1, "nothing may precede 'ev:'"),
        ("percent-encoded", k1.replace(":", "%3A")[:-3] + "%3A$", "percent-encoded colons are not decoded"),
        ("explicit-string-datatype", _insert_segment(k1, 2, "string"), "strings have no datatype segment"),
        ("capital-datatype", _replace_segment(k1_num, 2, "Number"), "datatypes are lowercase"),
        ("unknown-datatype", _replace_segment(k1_num, 2, "integer"), "only number/boolean"),
        ("iv-15-chars", _replace_segment(k1, 2, iv[:15]), "the IV is exactly 16 characters"),
        ("iv-17-chars", _replace_segment(k1, 2, iv + "A"), "the IV is exactly 16 characters"),
        ("iv-url-safe", _replace_segment(k1, 2, iv[:15] + "-"), "standard base64 alphabet only"),
        ("key-43-chars", _replace_segment(k1, 3, epk[:43]), "the key is exactly 44 characters"),
        ("key-prefix-04", _replace_segment(k1, 3, b64_unpadded(b"\x04" + bytes(32))), "compressed keys only"),
        (
            "key-not-on-curve",
            _replace_segment(k1, 3, b64_unpadded(b"\x02" + bytes(31) + b"\x05")),
            "x = 5 is not the x-coordinate of a secp256k1 point",
        ),
        ("ciphertext-15-bytes", _replace_segment(k1, 4, b64_unpadded(bytes(15))), "shorter than the GCM tag"),
        ("ciphertext-padded", _replace_segment(k1, 4, ct + "="), "padding must be stripped"),
        ("ciphertext-non-canonical", _non_canonical_ciphertext(s0ls), "non-zero unused base64 bits"),
        ("ciphertext-length-mod-4-is-1", _replace_segment(k1, 4, ct + "AAAAA"), "impossible base64 length"),
        ("extra-segment", _insert_segment(k1, 4, "AAAA"), "too many segments"),
        ("missing-segment", ":".join(k1.split(":")[:2] + k1.split(":")[3:]), "too few segments"),
        ("jwt-2020", "eyJpc3MiOiJldmVydmF1bHQifQ==.eyJ9.00000000-0000-4000-8000-000000000000", "RSA era"),
    ]
    for name, text, note in grammar:
        yield f"grammar-{name}", text, "malformed-ciphertext", note
    versions = [
        ("unknown-tag", _replace_segment(k1, 1, "ZZZZ"), "not a known tag"),
        ("lowercase-tag", _replace_segment(p256, 1, "tk9d"), "tags are case-sensitive"),
        ("unversioned-2021", ":".join(["ev", *k1_num.split(":")[2:]]), "the 2021 unversioned format"),
    ]
    for name, text, note in versions:
        yield f"version-{name}", text, "unsupported-version", note
    ct_s0ls = s0ls.split(":")[4]
    auth = [
        ("tag-flipped", _replace_segment(k1, 4, _flip_base64_char(ct, len(ct) - 3)), "altered tag"),
        ("body-flipped", _replace_segment(s0ls, 4, _flip_base64_char(ct_s0ls, 1)), "altered ciphertext"),
        ("iv-changed", _replace_segment(k1, 2, _flip_base64_char(iv, 0)), "IV is part of the nonce"),
        (
            "other-ephemeral-key",
            _replace_segment(k1, 3, b64_unpadded(ref_points(K1, EPH_ALT)[0])),
            "a different (valid) ephemeral key",
        ),
        ("rfvc-as-s0ls", _replace_segment(k1, 1, "S0lS"), "S0lS uses the KDF key, RFVC the raw secret"),
        ("tk9d-as-t1jl", _replace_segment(p256, 1, "T1JL"), "T1JL uses the raw secret"),
        ("tk9d-key-parity-flipped", _flip_key_parity(p256), "the KDF hashes the full point (y included)"),
        ("s0ls-key-parity-flipped", _flip_key_parity(s0ls), "the KDF and the v2 AAD bind the full point"),
        ("qktc-as-tk9d", _replace_segment(qktc, 1, "Tk9D"), "different AAD"),
        ("qktc-as-tenz", _replace_segment(qktc, 1, "TENZ"), "TENZ authenticates only the app key"),
        ("s0ls-datatype-added", _insert_segment(s0ls, 2, "number"), "the v2 AAD binds the datatype"),
        ("qktc-datatype-changed", _replace_segment(qktc_num, 2, "boolean"), "the v2 AAD binds the datatype"),
        ("qktc-datatype-removed", _remove_segment(qktc_num, 2), "the v2 AAD binds the datatype"),
        (
            "wrong-app",
            ref_seal(StringInputs(K1, "RFVC", "app-2", EPH_DOC, IV_DOC, "string", b"hello")).text,
            "encrypted for app-2, decrypted with app-1",
        ),
        (
            "wrong-app-p256",
            ref_seal(StringInputs(P256, "QkTC", "app-2", EPH_DOC, IV_DOC, "string", b"hello", frame)).text,
            "encrypted for app-2, decrypted with app-1",
        ),
        (
            "v2-aad-wrong-version-bit",
            ref_seal(
                StringInputs(
                    P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame, config_byte=0x00
                )
            ).text,
            "config byte 0x00 on QkTC (must be 0x01)",
        ),
        (
            "debug-byte-without-debug-segment",
            ref_seal(
                StringInputs(
                    P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame, config_byte=0x80
                )
            ).text,
            "config byte 0x80 is only accepted on 'ev:debug:' values",
        ),
    ]
    for name, text, note in auth:
        yield f"auth-{name}", text, "decryption-failed", note

    def sealed(version: str, datatype: str, text: bytes, frame_map: bytes | None = None) -> str:
        curve = VERSIONS[version].curve
        return ref_seal(
            StringInputs(curve, version, "app-1", EPH_DOC, IV_DOC, datatype, text, frame_map)
        ).text

    values = [
        ("boolean-yes", sealed("RFVC", "boolean", b"yes"), "booleans are true/false (or legacy 1/0)"),
        ("boolean-capitalised", sealed("Tk9D", "boolean", b"True"), "booleans are lowercase"),
        ("number-garbage", sealed("RFVC", "number", b"12abc"), "not a number"),
        ("number-empty", sealed("Tk9D", "number", b""), "an empty number"),
        ("string-as-number", _insert_segment(k1, 2, "number"), "RFVC does not authenticate its datatype"),
        ("invalid-utf8", sealed("RFVC", "string", b"\xff\xfe"), "the plaintext is not UTF-8"),
        (
            "invalid-utf8-after-metadata",
            sealed("S0lS", "string", b"\xc3", frame),
            "the value after the frame is not UTF-8",
        ),
    ]
    for name, text, note in values:
        yield f"value-{name}", text, "malformed-value", note
    ts = struct.pack(">I", TS_DOC)
    metadata = [
        ("tenz-without-frame", _replace_segment(p256, 1, "TENZ"), "Tk9D plaintext read as a TENZ frame"),
        ("frame-too-short", sealed("S0lS", "string", b"\x05"), "one byte cannot hold the uint16 length"),
        ("frame-length-overruns", sealed("QkTC", "string", b"\xff\x00\x82"), "claims 255 bytes"),
        ("map-is-array", sealed("S0lS", "string", b"hello", b"\x92\x01\x02"), "not a map"),
        ("trailing-bytes-in-map", sealed("QkTC", "string", b"hello", frame + b"\x00"), "bytes after the map"),
        ("role-not-string", sealed("S0lS", "string", b"x", b"\x81\xa2dr\x05"), "dr must be a string"),
        (
            "timestamp-not-integer",
            sealed("QkTC", "string", b"x", b"\x81\xa2et\xa1x"),
            "et must be an integer",
        ),
        ("duplicate-key", sealed("S0lS", "string", b"x", b"\x82\xa2eo\x07\xa2eo\x07"), "keys are unique"),
        ("nil-value", sealed("QkTC", "string", b"x", b"\x81\xa2eo\xc0"), "unsupported MessagePack type"),
        ("truncated-map", sealed("S0lS", "string", b"", b"\x82\xa2eo\x07\xa2et\xce" + ts[:2]), "cut short"),
        ("non-string-key", sealed("QkTC", "string", b"x", b"\x81\x01\x02"), "keys are strings"),
    ]
    for name, text, note in metadata:
        yield f"metadata-{name}", text, "metadata", note


def _flip_key_parity(text: str) -> str:
    key = base64.b64decode(text.split(":")[-3])
    return _replace_segment(text, len(text.split(":")) - 3, b64_unpadded(bytes((key[0] ^ 1,)) + key[1:]))


def _non_canonical_ciphertext(text: str) -> str:
    """Set an unused low bit of the last base64 character: same bytes, different text."""
    ct = text.split(":")[4]
    if len(ct) % 4 not in (2, 3):
        raise SystemExit("need a ciphertext whose base64 has unused bits")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(ct[-1]) | 1]
    return _replace_segment(text, 4, ct[:-1] + last)


def _insert_segment(text: str, index: int, segment: str) -> str:
    segments = text.split(":")
    segments.insert(index, segment)
    return ":".join(segments)


def _remove_segment(text: str, index: int) -> str:
    segments = text.split(":")
    del segments[index]
    return ":".join(segments)


def invalid_files() -> Iterator[tuple[str, bytes, str, str]]:
    k1, _, _, _ = ref_file(FileInputs(K1, 2, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    p256, _, _, _ = ref_file(FileInputs(P256, 3, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    v5, _, _, _ = ref_file(
        FileInputs(P256, 5, "app-1", EPH_DOC, IV_DOC, b"hello file", ref_map(ROLE, 7, TS_DOC))
    )
    v1, _, _, _ = ref_file(FileInputs(P256, 1, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    body = k1[:-4]

    def patched(data: bytes, offset: int, new: bytes) -> bytes:
        return data[:offset] + new + data[offset + len(new) :]

    def flip(data: bytes, offset: int) -> bytes:
        return patched(data, offset, bytes((data[offset] ^ 0x01,)))

    yield "envelope-empty", b"", "malformed-file", "no bytes"
    yield "envelope-magic-only", b"%EVENC", "malformed-file", "just the magic"
    yield "envelope-wrong-magic", b"%EVENX" + k1[6:], "malformed-file", "magic must be %EVENC"
    yield "envelope-header-truncated", k1[:54], "malformed-file", "shorter than the 55-byte header"
    yield (
        "envelope-no-room-for-tag",
        with_crc(body[:55] + body[55:70]),
        "malformed-file",
        "15-byte ciphertext",
    )
    yield "envelope-header-and-crc-only", with_crc(body[:55]), "malformed-file", "no ciphertext at all"
    yield "envelope-offset-56", with_crc(patched(body, 7, b"\x38\x00")), "malformed-file", "offset must be 55"
    yield (
        "envelope-key-prefix-04",
        with_crc(patched(body, 9, b"\x04")),
        "malformed-file",
        "compressed keys only",
    )
    yield (
        "envelope-v1-no-room-for-tag",
        v1[:70],
        "malformed-file",
        "version 1 has no CRC; 15 bytes after the header cannot hold the tag",
    )
    v5_body = v5[:-4]
    yield (
        "envelope-v5-metadata-length-overruns",
        with_crc(patched(v5_body, 55, b"\xff\x00")),
        "malformed-file",
        "the encrypted metadata length points past the end",
    )
    yield (
        "envelope-v5-metadata-shorter-than-tag",
        with_crc(patched(patched(v5_body, 55, b"\x0f\x00"), 7, struct.pack("<H", 55 + 2 + 15))),
        "malformed-file",
        "encrypted metadata must hold at least a tag",
    )
    yield "version-6", with_crc(patched(body, 6, b"\x06")), "unsupported-version", "known versions are 0-5"
    yield "version-255", with_crc(patched(body, 6, b"\xff")), "unsupported-version", "known versions are 0-5"
    yield "checksum-last-byte", flip(k1, len(k1) - 1), "file-checksum", "the CRC itself altered"
    yield "checksum-ciphertext-bit", flip(k1, 60), "file-checksum", "data altered, CRC not updated"
    yield "checksum-flags-bit", flip(p256, 54), "file-checksum", "flags are covered by the CRC"
    yield "checksum-trailing-byte", k1 + b"\x00", "file-checksum", "an extra byte after the CRC"
    yield "checksum-truncated", k1[:-1], "file-checksum", "the last byte cut off"
    yield (
        "auth-ciphertext-bit",
        with_crc(flip(body, 60)),
        "decryption-failed",
        "CRC recomputed over altered data",
    )
    yield "auth-iv-bit", with_crc(flip(p256[:-4], 42)), "decryption-failed", "the IV is not the one used"
    yield "auth-v2-as-v0", patched(body, 6, b"\x00") + k1[-4:], "decryption-failed", "CRC read as ciphertext"
    yield (
        "auth-wrong-app",
        ref_file(FileInputs(P256, 3, "app-2", EPH_DOC, IV_DOC, b"hello file"))[0],
        "decryption-failed",
        "encrypted for app-2, decrypted with app-1",
    )
    yield (
        "auth-v3-key-parity-flipped",
        with_crc(flip(p256[:-4], 9)),
        "decryption-failed",
        "the P-256 file key comes from the KDF, which hashes the full point",
    )
    yield (
        "auth-other-ephemeral-key",
        with_crc(patched(p256[:-4], 9, ref_points(P256, EPH_ALT)[0])),
        "decryption-failed",
        "a different (valid) ephemeral key",
    )
    yield (
        "auth-v5-metadata-altered",
        with_crc(flip(v5_body, 60)),
        "decryption-failed",
        "the encrypted metadata block altered",
    )
    yield (
        "key-not-on-curve",
        with_crc(patched(body, 9, b"\x02" + bytes(31) + b"\x05")),
        "malformed-ciphertext",
        "x = 5 is not the x-coordinate of a secp256k1 point",
    )
    yield (
        "metadata-v4-not-a-map",
        ref_file(FileInputs(K1, 4, "app-1", EPH_DOC, IV_DOC, b"hello file", b"\x92\x01\x02"))[0],
        "metadata",
        "the encrypted metadata decrypts to an array",
    )


def build_invalid() -> Json:
    strings = [
        {"id": name, "input": text, "error": kind, "note": note}
        for name, text, kind, note in invalid_strings()
    ]
    files = [
        {"id": name, "input": data.hex(), "error": kind, "note": note}
        for name, data, kind, note in invalid_files()
    ]
    decryptor = domain_decryptor("app-1")
    for vector in strings:
        _expect_error(vector, functools.partial(decryptor.decrypt_string, vector["input"]))
    for vector in files:
        _expect_error(vector, functools.partial(decryptor.decrypt_file, bytes.fromhex(vector["input"])))
    return {
        "description": "Inputs every SDK must reject, with the kind of error (decrypt with app-1's keys).",
        "error_kinds": {kind: text for kind, (_cls, text) in ERROR_KINDS.items()},
        "strings": strings,
        "files": files,
    }


def _expect_error(vector: Json, attempt: Callable[[], object]) -> None:
    expected = ERROR_KINDS[vector["error"]][0]
    try:
        attempt()
    except errors.CiphertextError as exc:
        if type(exc) is not expected:
            raise SystemExit(  # noqa: B904 - the domain error is reported in the message
                f"{vector['id']}: domain raised {type(exc).__name__}, spec says {vector['error']}"
            )
        return
    raise SystemExit(f"{vector['id']}: domain accepted an invalid input")
