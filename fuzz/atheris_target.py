"""One target under atheris: ``python -m fuzz.atheris_target <name> [libFuzzer flags] [corpus dirs]``.

Only ``evervault`` modules are instrumented for coverage; an exception other than a typed
``EvervaultError`` (or a :class:`~fuzz.targets.FuzzFinding`) is reported by libFuzzer as a
crash, with the input saved under ``-artifact_prefix``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["evervault"]):
    from fuzz.targets import TARGETS


def main() -> None:
    target = TARGETS[sys.argv[1]]
    target.seeds()  # build the seed material (keys, PKI) before the clock starts

    def test_one_input(data: bytes) -> None:
        target.run(data)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
