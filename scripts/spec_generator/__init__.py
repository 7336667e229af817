"""The conformance-vector generator behind ``scripts/generate_spec.py``.

Every vector is built twice where possible:

* by a small *reference* implementation (``reference.py``), written from the documented
  algorithm with low-level primitives only; it never imports ``evervault``;
* for the "both" direction, also by our own ``Encryptor`` with fixed ephemeral key,
  IV and clock (``crosscheck.py``) - the generator stops if the two disagree by a
  single byte.

Decrypt-only vectors (legacy versions, other SDKs' encodings, debug values, old file
versions) and invalid vectors come from the reference side alone, so the tests that
decrypt them check our decryptor against an independent construction. The domain is
used once more at the end to confirm each invalid vector raises its documented kind.

Layout, one job per module:

* ``inputs.py`` - the fixed scalars, IVs, timestamps and the published values to reproduce;
* ``reference.py`` - the independent implementation (DER, ECDH, KDF, AAD, ev-strings, files);
* ``crosscheck.py`` - our domain with fixed randomness, the only importer of ``evervault``;
* ``builders/`` - one module per vector file (keys, der, metadata, strings, files, invalid);
* ``cli.py`` - the command: write ``spec/*.json`` or ``--check`` them.
"""
