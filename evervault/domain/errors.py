"""The package's one error hierarchy.

It lives in the domain because the domain raises these errors and must import
nothing of ours outside itself; :mod:`evervault.errors` re-exports every name
as the public location.

Rules every subclass follows:

* messages say what was wrong and what to do about it;
* messages never contain secrets (API keys, private keys, plaintext) - only
  lengths, type names, versions and other non-sensitive facts;
* constructors take the message first, so ``str(err)`` is always useful.
"""

from __future__ import annotations

from typing import Any


class EvervaultError(Exception):
    """Base class of every error this package raises on purpose."""

    def __init__(self, message: str | None = None, context: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


# --- bad arguments and configuration -------------------------------------------------


class ConfigurationError(EvervaultError):
    """The SDK is not initialised, or a setting is invalid (curve, URL, app id)."""


class InvalidArgumentError(EvervaultError, ValueError):
    """An argument has the right type but a value that cannot be used."""


class UnsupportedTypeError(InvalidArgumentError, TypeError):
    """A value of a type this operation does not accept (e.g. ``None`` or a nested ``bytes``)."""


class InvalidRoleError(InvalidArgumentError):
    """A data role slug is not 1-20 characters of ``[a-z0-9-]``."""


class ExceededMaxFileSizeError(InvalidArgumentError):
    """A file is larger than the configured maximum (25 MB by default)."""


# --- ciphertexts ---------------------------------------------------------------------


class CiphertextError(EvervaultError):
    """A ciphertext (string or file) could not be parsed or decrypted."""


class MalformedCiphertextError(CiphertextError):
    """An encrypted string does not follow the ``ev:...:$`` grammar."""


class UnsupportedVersionError(CiphertextError):
    """A ciphertext carries a version tag or file version this SDK does not know."""


class MalformedFileError(CiphertextError):
    """A ``%EVENC`` file envelope is truncated or has an invalid header."""


class FileChecksumError(MalformedFileError):
    """The CRC-32 at the end of a ``%EVENC`` file does not match its contents."""


class MetadataError(CiphertextError):
    """The decrypted metadata frame (data role, origin, timestamp) is malformed."""


class DecryptionError(CiphertextError):
    """Authenticated decryption failed: wrong key, wrong app, or tampered data."""


# --- HTTP API --------------------------------------------------------------------------


class TransportError(EvervaultError):
    """The request could not be completed at the network level (DNS, connect, TLS, reset)."""


class RequestTimeoutError(TransportError):
    """No response arrived within the configured timeout."""


class ConnectError(TransportError):
    """No connection could be opened (DNS, refused, connect timeout): no request byte was sent.

    Because nothing was sent, even a non-idempotent request may be retried safely.
    """


class ApiError(EvervaultError):
    """The Evervault API answered with an error status."""

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int | None = None,
        code: str | None = None,
        context: Any = None,
    ) -> None:
        super().__init__(message, context)
        self.status_code = status_code
        self.code = code


class InvalidResponseError(ApiError):
    """The API answered with a body that does not follow the protocol (e.g. not JSON)."""


class BadRequestError(ApiError):
    """400: the API rejected the request as malformed."""


class AuthenticationError(ApiError):
    """401: the API key or app id was not accepted."""


class ForbiddenError(ApiError):
    """403: the API key lacks the permission, or a policy refused the operation."""


class ForbiddenIpError(ForbiddenError):
    """403: the caller's IP address is not on the Function's allow-list."""


class NotFoundError(ApiError):
    """404: the resource (function, app, path) does not exist."""


class UnprocessableContentError(ApiError):
    """422: the API could not process the payload (e.g. data it cannot decrypt)."""


class RateLimitError(ApiError):
    """429: too many requests."""


class ServerError(ApiError):
    """5xx: the API failed; retrying later may help."""


class FunctionError(ApiError):
    """Base class of Function run errors."""


class FunctionTimeoutError(FunctionError):
    """The Function run exceeded its time limit (``functions/request-timeout``)."""


class FunctionNotReadyError(FunctionError):
    """The Function is still being deployed (``functions/function-not-ready``); retry later."""


class FunctionRuntimeError(FunctionError):
    """The Function ran and failed; ``stack`` and ``id`` identify the failing run."""

    def __init__(
        self,
        message: str | None = None,
        stack: str | None = None,
        id: str | None = None,  # the published SDK's keyword
        *,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.stack = stack
        self.id = id


# --- relay and attestation -------------------------------------------------------------


class RelayError(EvervaultError):
    """Outbound Relay could not be configured (configuration or CA fetch failed)."""


class AttestationError(EvervaultError):
    """An enclave's attestation failed; no request byte was sent.

    ``kind`` is one of the failure kinds of the Nitro vector manifest
    (``pcr-mismatch``, ``expired``, ``untrusted-chain``, ``bad-signature``, ...);
    ``reason`` is what differed and what to do, without the ``Attestation failed (kind):``
    prefix of the message (for tools that print the kind themselves).
    """

    def __init__(
        self, message: str | None = None, *, kind: str = "invalid", reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason if reason is not None else (message or "")


class InvalidPCRsError(AttestationError, InvalidArgumentError):
    """Expected PCRs that cannot be used: not hex measurements, unknown PCR keys, or a value
    that would check nothing (``None``, ``{}``, ``[]``, ``{"pcr_8": None}``, ...).

    Raised when the policy is built or a provider answers, before any byte is sent: such a
    value can never be a meaningful check, so it is both a bad argument and an attestation
    failure of kind ``pcr-mismatch``. Skipping PCR checks takes ``UnsafeSkipPcrChecks()``.
    ``checks_nothing`` is true when the value was refused because it constrains no PCR at all.
    """

    def __init__(self, message: str | None = None, *, checks_nothing: bool = False) -> None:
        super().__init__(message, kind="pcr-mismatch")
        self.checks_nothing = checks_nothing


# Published SDK exception names, kept importable so ``except`` clauses keep working.
CageVerificationException = AttestationError
EnclaveVerificationException = AttestationError
