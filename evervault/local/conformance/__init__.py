"""The black-box conformance suite: ``evervault-local conformance --sdk CMD``.

:mod:`.process` runs the SDK's adapter (JSON lines, :mod:`.codec` values), :mod:`.emulator`
serves a throwaway app and records the SDK's API requests, :mod:`.corpus` is what is
encrypted, :mod:`.judge` checks it with the strict domain, :mod:`.session` runs it all
per curve and :mod:`.report` renders the table or the JSON. The protocol is documented
in ``conformance/README.md`` at the repository root.
"""
