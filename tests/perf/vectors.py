"""Deterministic inputs and the worked examples of docs/protocol.md §1.6 and §6.1.

App private scalar 0x11 * 32, ephemeral 0x22 * 32, IV 01..0c, timestamp 1700000000.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar
from evervault.domain.encryption import Encryptor

APP_SCALAR = bytes([0x11]) * 32
EPHEMERAL_SCALAR = bytes([0x22]) * 32
FIXED_IV = bytes(range(1, 13))
FIXED_TIMESTAMP = 1_700_000_000

_K1_TAIL = "AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:"
_P256_TAIL = "AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:"

# (value, role) -> expected ev-string, per curve.
STRING_VECTORS: dict[Curve, list[tuple[object, str | None, str]]] = {
    Curve.SECP256K1: [
        ("hello", None, f"ev:RFVC:{_K1_TAIL}fYuz8wN4CtwLa7Yy+bbJNNndqTGa:$"),
        (42, None, f"ev:RFVC:number:{_K1_TAIL}IdwdQkJ/LmeaHqNieOyfJVov:$"),
        (True, None, f"ev:RFVC:boolean:{_K1_TAIL}YZyq+k8U9rgrfLqB9E7zpI/9oL4:$"),
        (4.0, None, f"ev:RFVC:number:{_K1_TAIL}IcDvVgkKSCf4Smg/7p93ugL8ug:$"),
        (
            "hello",
            "my-role",
            f"ev:S0lS:{_K1_TAIL}cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3EDt2eZ93I//oOeVdZ/UtHXmgtK8/o:$",
        ),
        (
            42,
            "my-role",
            f"ev:S0lS:number:{_K1_TAIL}cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3Ff4D+IhtVZ1GEEJJ5q9CIr02Y:$",
        ),
        (
            False,
            "my-role",
            f"ev:S0lS:boolean:{_K1_TAIL}cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3ENs2eG/Wdv/jA2mSMnuKzn0U8O5SU:$",
        ),
    ],
    Curve.P256: [
        ("hello", None, f"ev:Tk9D:{_P256_TAIL}nSH+41s/lRnzJ7jZgT4MBQclWEgh:$"),
        (42, None, f"ev:Tk9D:number:{_P256_TAIL}wXbpGnDkZHWJ0mJVhCss9q0K:$"),
        (True, None, f"ev:Tk9D:boolean:{_P256_TAIL}gTbn6vWPSfVdVcmGJwQPom1M5Lc:$"),
        (
            "hello",
            "my-role",
            f"ev:QkTC:{_P256_TAIL}7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad62r8Hx/FlxfoA/hzI5QYzRhv86Yms:$",
        ),
        (
            42,
            "my-role",
            f"ev:QkTC:number:{_P256_TAIL}7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad7q+AVJxQ59GRvF6RidVGHvxc8:$",
        ),
        (
            False,
            "my-role",
            f"ev:QkTC:boolean:{_P256_TAIL}7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad64q8Hu9vsjvWDmaKb2d3tLo3iwrmc:$",
        ),
    ],
}

# "hello file" as a %EVENC file (docs/protocol.md §6.1).
FILE_CONTENT = b"hello file"
FILE_VECTORS = {
    Curve.SECP256K1: bytes.fromhex(
        "254556454e4302370002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f27"
        "0102030405060708090a0b0c007d8bb3f3031ca31e66a19c857b0442d96005e694917d0f7403254e59ace9"
    ),
    Curve.P256: bytes.fromhex(
        "254556454e4303370003d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf3"
        "0102030405060708090a0b0c009d21fee35ba8eb2544e0126fd1c18add30f25973635f0867c9d02543e1dd"
    ),
}


class FixedClock:
    """Wall time fixed at the vectors' timestamp; monotonic time settable (for rotation)."""

    def __init__(self, wall: float = FIXED_TIMESTAMP) -> None:
        self.wall = wall
        self.now = 0.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.now


class FixedIvSource:
    """Always the vectors' IV: only for byte-exact checks, never for real encryption."""

    def next_iv(self) -> tuple[bytes, str]:
        return FIXED_IV, "AQIDBAUGBwgJCgsM"


def app_private_key(curve: Curve) -> ec.EllipticCurvePrivateKey:
    return private_key_from_scalar(curve, APP_SCALAR)


def fixed_ephemeral_key(curve: Curve) -> ec.EllipticCurvePrivateKey:
    return private_key_from_scalar(curve, EPHEMERAL_SCALAR)


def deterministic_encryptor(curve: Curve, clock: FixedClock | None = None) -> Encryptor:
    clock = clock or FixedClock()
    return Encryptor(
        curve,
        compressed_point(app_private_key(curve).public_key()),
        new_private_key=fixed_ephemeral_key,
        next_iv=FixedIvSource().next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
    )
