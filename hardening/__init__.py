"""Hardening harnesses shared by the default test run and the long run (``make soak``).

* :mod:`hardening.soak` - concurrent encryption with forced key rotation; every value must
  decrypt to the original through a real emulator.
* :mod:`hardening.faults` - a loopback server that misbehaves on purpose, and the matrix of
  client calls that must each end in a typed error without leaks or unsafe retries.
* :mod:`hardening.run` - ``python -m hardening --minutes N``: the long versions and a summary.
"""
