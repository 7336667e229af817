"""Every default of the SDK, in one place: endpoints, time limits, sizes and intervals.

Each value is defined here only; the modules that use one import it. A setting that also
has an environment variable (docs/protocol.md §7.1) falls back to the default named here
when neither the argument nor the variable is given.
"""

from __future__ import annotations

from typing import Final

# --- public endpoints -------------------------------------------------------------------
DEFAULT_API_URL: Final = "https://api.evervault.com/"
DEFAULT_TUNNEL_URL: Final = "https://relay.evervault.com:443"  # Outbound Relay (EV_TUNNEL_HOSTNAME)
DEFAULT_CERT_URL: Final = "https://ca.evervault.com"  # the relay CA (EV_CERT_HOSTNAME)
SEED_CAGES_HOST: Final = "cages.evervault.com"  # seed-era Cages (no setting)
DEFAULT_CAGES_HOST: Final = "cage.evervault.com"  # GA Cages (EV_CAGES_HOST)
DEFAULT_ENCLAVE_HOST: Final = "enclave.evervault.com"  # Enclaves (EV_ENCLAVE_HOST)

# --- client -----------------------------------------------------------------------------
DEFAULT_CURVE_NAME: Final = "SECP256K1"
DEFAULT_REQUEST_TIMEOUT: Final = 30.0  # seconds per HTTP request
BYTES_PER_MB: Final = 1024 * 1024
DEFAULT_MAX_FILE_SIZE_IN_MB: Final = 25  # encrypt(bytes) limit (EV_MAX_FILE_SIZE_IN_MB)
DEFAULT_MAX_FILE_SIZE: Final = DEFAULT_MAX_FILE_SIZE_IN_MB * BYTES_PER_MB
DEFAULT_TOKEN_LIFETIME_MS: Final = 5 * 60 * 1000  # a token without an expiry

# --- encryption -------------------------------------------------------------------------
DEFAULT_ROTATION_SECONDS: Final = 15.0  # lifetime of one ephemeral session key
DEFAULT_CHUNK_SIZE: Final = 1024 * 1024  # plaintext bytes per chunk of a streamed file

# --- retries (opt-in: RetryPolicy()) ---------------------------------------------------
DEFAULT_MAX_RETRIES: Final = 3
DEFAULT_RETRY_BASE_DELAY: Final = 0.5  # seconds; doubles per retry
DEFAULT_RETRY_MAX_DELAY: Final = 30.0  # seconds; also the longest Retry-After honoured
DEFAULT_RETRY_MAX_TOTAL_TIME: Final = 60.0  # seconds, sleeps included
MIN_RELAY_CA_FETCH_ATTEMPTS: Final = 2  # the relay CA is fetched at least twice before failing

# --- background pollers -----------------------------------------------------------------
DEFAULT_PCR_POLL_INTERVAL: Final = 300.0  # seconds between calls of a PCR provider
DEFAULT_RELAY_POLL_INTERVAL: Final = 5.0  # seconds, until the server sends X-Poll-Interval
