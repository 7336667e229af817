"""``evervault token client-side PAYLOAD [--expiry]`` and ``evervault token run FUNCTION [PAYLOAD]``.

Both print the API's answer as JSON (``{"token": ..., ...}``); ``--token-only`` prints
just the token, for ``TOKEN=$(evervault token ... --token-only)``.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from evervault.cli import UsageError
from evervault.cli.credentials import add_credential_options, open_client
from evervault.cli.functions import add_payload_argument, payload_from
from evervault.cli.output import add_json_option, print_json
from evervault.domain.errors import InvalidResponseError


def register(commands: Any) -> None:
    token = commands.add_parser("token", help="create client-side decrypt and Function run tokens")
    kinds = token.add_subparsers(dest="token_kind", required=True, metavar="KIND")

    client_side = kinds.add_parser("client-side", help="a token a front end uses to decrypt exactly PAYLOAD")
    add_payload_argument(client_side, default=None)
    client_side.add_argument(
        "--expiry",
        metavar="WHEN",
        help="seconds from now (at most 600) or an ISO 8601 time with a zone (default: 5 minutes)",
    )
    _add_common_options(client_side)
    client_side.set_defaults(handler=run_client_side_token)

    run = kinds.add_parser("run", help="a single-use token to run FUNCTION with exactly PAYLOAD")
    run.add_argument("function", metavar="FUNCTION", help="the Function's name")
    add_payload_argument(run)
    _add_common_options(run)
    run.set_defaults(handler=run_run_token)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-only", action="store_true", help="print only the token")
    add_json_option(parser, "the answer")
    add_credential_options(parser)


def run_client_side_token(arguments: argparse.Namespace) -> int:
    expiry = parse_expiry(arguments.expiry, datetime.now(timezone.utc))
    payload = payload_from(arguments.payload)
    with open_client(arguments) as client:
        answer = client.create_client_side_decrypt_token(payload, expiry)
    return _print_token(answer, arguments)


def run_run_token(arguments: argparse.Namespace) -> int:
    payload = payload_from(arguments.payload)
    with open_client(arguments) as client:
        answer = client.create_run_token(arguments.function, payload)
    return _print_token(answer, arguments)


def _print_token(answer: dict[str, Any], arguments: argparse.Namespace) -> int:
    if arguments.token_only:
        token = answer.get("token")
        if not isinstance(token, str):
            raise InvalidResponseError("The API's answer has no token; check that EV_API_URL is right.")
        print(token)
    else:
        print_json(answer, compact=arguments.json)
    return 0


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    """``None``, whole seconds after ``now``, or an ISO 8601 instant that names its zone."""
    if text is None:
        return None
    if text.strip().isdigit():
        return now + timedelta(seconds=int(text))
    try:
        instant = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--expiry must be seconds from now or an ISO 8601 time, got {text!r}") from None
    if instant.tzinfo is None:
        raise UsageError(f"--expiry {text!r} has no time zone; add one, e.g. {text}Z or {text}+01:00")
    return instant
