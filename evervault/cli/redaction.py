"""Keeps the API key out of everything the command prints.

The key reaches the command through ``EV_API_KEY`` or ``--api-key``; any message about
to be printed has every occurrence of it replaced, whatever produced the message
(argparse echoing an argument, an error from a library, a bug).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

API_KEY_OPTION = "--api-key"
API_KEY_VARIABLE = "EV_API_KEY"
MASK = "[redacted]"


class Redactor:
    """Replaces each known secret in a text with :data:`MASK`."""

    def __init__(self, secrets: Sequence[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({secret for secret in secrets if secret.strip()}, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
            stripped = secret.strip()  # the SDK strips the key; messages may quote either form
            if stripped != secret:
                text = text.replace(stripped, MASK)
        return text

    @classmethod
    def for_command_line(cls, arguments: Sequence[str], environ: Mapping[str, str]) -> Redactor:
        """Secrets in ``arguments`` (``--api-key K``, ``--api-key=K``) and in ``environ``."""
        secrets = [environ.get(API_KEY_VARIABLE, "")]
        for index, argument in enumerate(arguments):
            if argument == API_KEY_OPTION and index + 1 < len(arguments):
                secrets.append(arguments[index + 1])
            elif argument.startswith(API_KEY_OPTION + "="):
                secrets.append(argument.partition("=")[2])
        return cls(secrets)
