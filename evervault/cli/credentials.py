"""Credentials and the API client of the commands that call the Evervault API.

``EV_APP_ID`` and ``EV_API_KEY`` are the normal source; ``--app-id``/``--api-key`` override
them (the help discourages ``--api-key``: other users of the machine can read a process's
arguments). URLs and limits come from the SDK's own variables (``EV_API_URL`` etc.).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from evervault.bootstrap.clients import Client
from evervault.cli import UsageError
from evervault.cli.redaction import API_KEY_OPTION, API_KEY_VARIABLE

APP_ID_VARIABLE = "EV_APP_ID"


def add_credential_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("credentials (default: the EV_APP_ID and EV_API_KEY variables)")
    group.add_argument("--app-id", metavar="ID", help=f"the App's ID (default: ${APP_ID_VARIABLE})")
    group.add_argument(
        API_KEY_OPTION,
        metavar="KEY",
        help=f"avoid: visible to other users in `ps`; export {API_KEY_VARIABLE} instead",
    )


def open_client(arguments: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Client:
    """A :class:`Client` for the App named by the options or the environment."""
    env = os.environ if environ is None else environ
    app_id = arguments.app_id or env.get(APP_ID_VARIABLE, "")
    api_key = arguments.api_key or env.get(API_KEY_VARIABLE, "")
    if not app_id.strip():
        raise UsageError(f"no App ID: export {APP_ID_VARIABLE}=<app id> (or pass --app-id)")
    if not api_key.strip():
        raise UsageError(f"no API key: export {API_KEY_VARIABLE}=<api key>")
    return Client(app_id, api_key, environ=env)
