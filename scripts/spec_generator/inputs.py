"""The fixed inputs every vector is built from, and the published values to reproduce.

Nothing here computes anything: scalars, IVs, timestamps, the values round-tripped in
``strings.json``, and the published ev-strings, files and DER that the generator must
reproduce byte for byte.
"""

from __future__ import annotations

import math

K1 = "secp256k1"
P256 = "secp256r1"
CURVES = (K1, P256)

APP_SCALARS = {"app-1": bytes([0x11]) * 32, "app-2": bytes([0x33]) * 32}
EPH_DOC = bytes([0x22]) * 32  # the ephemeral scalar of docs/protocol.md §1.6 / §6.1
EPH_ALT = bytes([0x44]) * 32
IV_DOC = bytes(range(1, 13))
IV_ALT = bytes([0xFF]) * 12
IV_ZERO = bytes(12)
TS_DOC = 1700000000
TS_MAX = 0xFFFFFFFF
PYTHON_ORIGIN = 7
ROLE = "my-role"


def _tokens(block: str) -> list[str]:
    return block.split()


# Published ev-strings, verbatim (docs/protocol.md §1.6): every one must be reproduced exactly.
# A text block, one vector per line, keeps the long lines exactly as published.
DOC_STRINGS = _tokens(
    """
ev:RFVC:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:fYuz8wN4CtwLa7Yy+bbJNNndqTGa:$
ev:RFVC:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:IdwdQkJ/LmeaHqNieOyfJVov:$
ev:RFVC:boolean:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:YZyq+k8U9rgrfLqB9E7zpI/9oL4:$
ev:RFVC:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:IcDvVgkKSCf4Smg/7p93ugL8ug:$
ev:S0lS:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3EDt2eZ93I//oOeVdZ/UtHXmgtK8/o:$
ev:S0lS:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3Ff4D+IhtVZ1GEEJJ5q9CIr02Y:$
ev:S0lS:boolean:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3ENs2eG/Wdv/jA2mSMnuKzn0U8O5SU:$
ev:S0lS:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:ZTUsBsjfuAKs0WXxpA+iBFpUdDTXWmhw/p4p0C1G0ez6vEvP:$
ev:QlJV:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3EDt2eZ90m9k0PqSue4dM/z7NGywUc:$
ev:Tk9D:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:nSH+41s/lRnzJ7jZgT4MBQclWEgh:$
ev:Tk9D:number:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:wXbpGnDkZHWJ0mJVhCss9q0K:$
ev:Tk9D:boolean:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:gTbn6vWPSfVdVcmGJwQPom1M5Lc:$
ev:QkTC:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad62r8Hx/FlxfoA/hzI5QYzRhv86Yms:$
ev:QkTC:number:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad7q+AVJxQ59GRvF6RidVGHvxc8:$
ev:QkTC:boolean:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad64q8Hu9vsjvWDmaKb2d3tLo3iwrmc:$
ev:QkTC:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:+EQQLVHniu5N8fqQdEFPKnZIblxKJMW96fFdTRSszLRWDDIC:$
ev:TENZ:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad62r8Hx/FRqf7dG601yC1sYAo/fmnk:$
"""
)
# Published files, verbatim (docs/protocol.md §6.1: "hello file", same fixed inputs).
DOC_FILES = dict(
    zip(
        (K1, P256),
        _tokens(
            """
254556454e4302370002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f270102030405060708090a0b0c007d8bb3f3031ca31e66a19c857b0442d96005e694917d0f7403254e59ace9
254556454e4303370003d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf30102030405060708090a0b0c009d21fee35ba8eb2544e0126fd1c18add30f25973635f0867c9d02543e1dd
"""
        ),
        strict=True,
    )
)
DOC_DER = {
    P256: (
        "04b7556ac070c439ba914e6e2f3ba2e582304dc548524ffc8414abc07ab5a843ecb1f1d71d3a620e6a7c08b895a72d62e2250d248a31da2a5d59ba6ecd636726c4",
        "MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAAAAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA///////////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSdNgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABLdVasBwxDm6kU5uLzui5YIwTcVIUk/8hBSrwHq1qEPssfHXHTpiDmp8CLiVpy1i4iUNJIox2ipdWbpuzWNnJsQ=",
    ),
    K1: (
        "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
        "MIIBMzCB7AYHKoZIzj0CATCB4AIBATAsBgcqhkjOPQEBAiEA/////////////////////////////////////v///C8wRAQgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHBEEEeb5mfvncu6xVoGKVzocLBwKb/NstzijZWfKBWxb4F5hIOtp3JqPEZV2k+/wOEQio/Re0SKaFVBmcR9CP+xDUuAIhAP////////////////////66rtzmr0igO7/SXozQNkFBAgEBA0IABHm+Zn753LusVaBilc6HCwcCm/zbLc4o2VnygVsW+BeYSDradyajxGVdpPv8DhEIqP0XtEimhVQZnEfQj/sQ1Lg=",
    ),
}

# Values encrypted in both directions on both curves, with and without a role.
ROUND_TRIP_VALUES: list[tuple[str, object]] = [
    ("hello", "hello"),
    ("empty-string", ""),
    ("unicode", "h\u00e9llo \u2713 \U0001f510"),
    ("colon-dollar", "a:b:$"),
    ("int-42", 42),
    ("int-negative", -7),
    ("int-zero", 0),
    ("int-big", 10**25),
    ("float-4", 4.0),
    ("float-negative-zero", -0.0),
    ("float-1e16", 1e16),
    ("float-1e-07", 1e-07),
    ("float-point-three", 0.30000000000000004),
    ("float-nan", math.nan),
    ("float-inf", math.inf),
    ("float-negative-inf", -math.inf),
    ("true", True),
    ("false", False),
]
