"""Pure, sans-I/O core: wire formats, curves, KDF, metadata, envelopes, encryption engine.

Nothing here opens a socket, reads a clock or draws randomness on its own: bytes,
numbers, times and random sources come in as arguments or through small ports.
"""
