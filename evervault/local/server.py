"""The emulator's HTTP API (aiohttp.web): the real Evervault API's paths, auth and errors.

Paths are relative to the API URL (``EV_API_URL``), which is the server root:

================================================  ==========================  ==================
``GET  cages/key``                                 Api-Key                     any key
``POST decrypt`` (JSON deep, or ``%EVENC`` bytes)  Basic, or Token              decrypt
``POST client-side-tokens``                        Basic (or Api-Key, as Go)    create-tokens
``POST functions/{name}/runs``                     Basic, or RunToken           run-function
``GET  functions/{name}/runs/{id}``                Basic                        run-function
``POST v2/functions/{name}/run-token``             Api-Key                      create-run-token
``GET  v2/relay-outbound``                         Api-Key                      any key
``POST run/{name}`` (seed-era run host)            Api-Key                      run-function
``GET  ca.crt`` (Relay CA, ``EV_CERT_HOSTNAME``)   none
``GET/PUT _local/relay-destinations``              Api-Key with every permission
``POST _local/api-keys``                           Api-Key with every permission
``POST _local/reset``                              Api-Key with every permission
``GET  _local/health``                             none
================================================  ==========================  ==================

Decrypting with a client-side token (``Authorization: Token <t>``) takes the bare
payload as the body and answers the bare decrypted value. Run tokens are documented in
:mod:`evervault.local.tokens`.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from evervault.domain.curves import Curve, uncompressed_point
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import (
    ApiError,
    InvalidArgumentError,
)
from evervault.local.access_log import access_log_middleware
from evervault.local.auth import Authenticator, Presented, Scheme, presented_credential
from evervault.local.decrypt_pool import DecryptPool, parse_json_bytes
from evervault.local.functions import FunctionRunner, RegisteredFunction, RunRecord
from evervault.local.paths import merge_slashes_middleware
from evervault.local.problems import bad_request, not_found, problem_middleware
from evervault.local.state import LocalState, Permission, RelayDestination
from evervault.local.streaming_decrypt import stream_decrypted_file
from evervault.local.tokens import TokenStore

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
PEM = "application/x-pem-file"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024  # a 25 MB file (the SDK default maximum) plus headroom
# Files are spooled to disk while they are checked, so their limit is about disk, not memory.
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
DECRYPT_POOL = web.AppKey("decrypt_pool", DecryptPool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Middleware(Protocol):
    """An aiohttp middleware (a coroutine function decorated with ``@web.middleware``)."""

    def __call__(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]: ...


_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class ServerSettings:
    """Knobs of one emulator instance (the CLI fills them from its options).

    ``max_file_bytes`` limits ``%EVENC`` uploads to ``POST /decrypt``; they are spooled
    to a temporary file, not held in memory, so it may exceed ``max_body_bytes``
    (``None``: the same limit).
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_file_bytes: int | None = None
    relay_poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS
    ca_certificate_pem: bytes | None = None
    clock: Callable[[], float] = time.time
    # Worker processes decrypting large documents (None: one per CPU; 0: all inline).
    decrypt_workers: int | None = None
    # Extra middlewares (outermost first) for harnesses that observe the traffic, such as the
    # conformance suite's request recorder. They run inside the slash-merging middleware,
    # which re-dispatches a merged path through the whole chain, so each sees a request
    # once, with its final path and status; ``serve`` adds none.
    middlewares: Sequence[Middleware] = ()


def create_app(
    state: LocalState,
    functions: Iterable[RegisteredFunction] = (),
    settings: ServerSettings | None = None,
) -> web.Application:
    """The aiohttp application of one emulated app (``state``) with its Functions."""
    settings = settings or ServerSettings()
    if settings.max_body_bytes <= 0:
        raise InvalidArgumentError("max_body_bytes must be a positive number of bytes.")
    if settings.max_file_bytes is not None and settings.max_file_bytes <= 0:
        raise InvalidArgumentError("max_file_bytes must be a positive number of bytes.")
    # Repeated slashes are merged first (the merged request then runs the whole chain); the
    # access log comes next so that it sees the status of Problem JSON answers too.
    middlewares = [merge_slashes_middleware, *settings.middlewares, access_log_middleware, problem_middleware]
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_body_bytes,
    )
    emulator = Emulator(state, functions, settings)
    emulator.add_routes(app.router)
    app[DECRYPT_POOL] = emulator.decrypt_pool  # shared with the relay proxy
    app.on_cleanup.append(emulator.close)
    return app


class Emulator:
    """The request handlers of one emulated app."""

    def __init__(
        self, state: LocalState, functions: Iterable[RegisteredFunction], settings: ServerSettings
    ) -> None:
        self.state = state
        self.settings = settings
        self.decryptor = Decryptor(state.private_keys)
        self.decrypt_pool = DecryptPool(state.private_keys, workers=settings.decrypt_workers)
        self.auth = Authenticator(state)
        self.tokens = TokenStore(settings.clock)
        self.runner = FunctionRunner(functions, app_id=state.app_id, team_id=state.team_id)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/cages/key", self.app_keys)
        router.add_post("/decrypt", self.decrypt)
        router.add_post("/client-side-tokens", self.client_side_token)
        router.add_post("/functions/{name}/runs", self.run_function)
        router.add_get("/functions/{name}/runs/{run_id}", self.run_result)
        router.add_post("/v2/functions/{name}/run-token", self.run_token)
        router.add_get("/v2/relay-outbound", self.relay_outbound)
        router.add_post("/run/{name}", self.legacy_run)
        router.add_get("/ca.crt", self.ca_certificate)
        router.add_get("/_local/relay-destinations", self.get_relay_destinations)
        router.add_put("/_local/relay-destinations", self.put_relay_destinations)
        router.add_post("/_local/api-keys", self.create_api_key)
        router.add_post("/_local/reset", self.reset)
        router.add_get("/_local/health", self.health)

    async def close(self, _app: web.Application) -> None:
        await self.runner.close()
        await self.decrypt_pool.close()

    # --- keys and decryption -------------------------------------------------------------------

    async def app_keys(self, request: web.Request) -> web.Response:
        self.auth.require_key(presented_credential(request), (Scheme.API_KEY,))
        k1 = self.decryptor.public_key(Curve.SECP256K1)
        p256 = self.decryptor.public_key(Curve.P256)
        p256_public = self.state.private_keys[Curve.P256].public_key()
        return json_response(
            {
                "appUuid": self.state.app_id,
                "teamUuid": self.state.team_id,
                "ecdhKey": _b64(k1),
                "ecdhP256Key": _b64(p256),
                "ecdhP256KeyUncompressed": _b64(uncompressed_point(p256_public)),
            }
        )

    async def decrypt(self, request: web.Request) -> web.StreamResponse:
        presented = presented_credential(request)
        if presented is not None and presented.scheme is Scheme.TOKEN:
            return await self._decrypt_with_token(request, presented)
        self.auth.require_key(presented, (Scheme.BASIC,), Permission.DECRYPT)
        if request.content_type == OCTET_STREAM:
            # Files of any size: spooled to disk, verified, then streamed back chunk by chunk.
            limit = self.settings.max_file_bytes or self.settings.max_body_bytes
            return await stream_decrypted_file(request, self.state.private_keys, limit)
        raw = await read_json_bytes(request, self.settings.max_body_bytes, expected=(JSON, OCTET_STREAM))
        # The response mirrors the request: {"data": X} (Python, Node) or a bare X (Go, Java).
        # Parsed, decrypted and serialised off the event loop when large (DecryptPool).
        body = await self.decrypt_pool.decrypt_json(raw)
        return web.Response(body=body, content_type=JSON)

    async def _decrypt_with_token(self, request: web.Request, presented: Presented) -> web.Response:
        payload = await read_json(request, self.settings.max_body_bytes)
        self.tokens.check_client_side_token(presented.value, payload)
        return json_response(await self._decrypt_document(payload))

    async def _decrypt_document(self, document: Any) -> Any:
        return await self.decrypt_pool.decrypt_document(document)

    # --- client-side tokens ----------------------------------------------------------------------

    async def client_side_token(self, request: web.Request) -> web.Response:
        # Go sends this call with an Api-Key header; every other SDK with Basic (docs/protocol.md §7.2).
        # The token will decrypt data, so the key must be allowed to decrypt as well: otherwise
        # a key limited to creating tokens could decrypt anything through them.
        self.auth.require_key(
            presented_credential(request),
            (Scheme.BASIC, Scheme.API_KEY),
            Permission.CREATE_TOKENS,
            Permission.DECRYPT,
        )
        body = await self._json_object(request, "The client-side token request")
        if "payload" not in body or body["payload"] is None:
            raise bad_request("'payload' is required: the data the token may decrypt.")
        token = self.tokens.issue_client_side_token(body["payload"], body.get("expiry"), body.get("action"))
        return json_response(token.to_json())

    # --- functions -------------------------------------------------------------------------------

    async def run_function(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        run_token = self._run_token_or_key(presented_credential(request))
        payload, run_async = _run_request(await self._json_object(request, "The Function run request"))
        _check_version_header(request)
        function = self._function(name)
        if run_token is not None:
            self.tokens.redeem_run_token(run_token, name, payload)
        decrypted = await self._function_input(function, payload)
        if run_async:
            return json_response(self.runner.schedule(function, decrypted).to_json(), status=202)
        record = await self.runner.run(function, decrypted)
        return json_response(record.to_json())

    def _run_token_or_key(self, presented: Presented | None) -> str | None:
        """The run token a run presents, or ``None`` after checking its API key instead."""
        if presented is not None and presented.scheme is Scheme.RUN_TOKEN:
            return presented.value
        self.auth.require_key(presented, (Scheme.BASIC, Scheme.RUN_TOKEN), Permission.RUN_FUNCTION)
        return None

    async def run_result(self, request: web.Request) -> web.Response:
        self.auth.require_key(presented_credential(request), (Scheme.BASIC,), Permission.RUN_FUNCTION)
        record = self.runner.record(request.match_info["run_id"])
        if record is None or record.function_name != request.match_info["name"]:
            raise not_found(
                "No such run of this Function (the emulator keeps the latest 1024 runs in memory)."
            )
        return json_response(record.to_json())

    async def run_token(self, request: web.Request) -> web.Response:
        self.auth.require_key(presented_credential(request), (Scheme.API_KEY,), Permission.CREATE_RUN_TOKEN)
        name = request.match_info["name"]
        payload = await read_json(request, self.settings.max_body_bytes, allow_empty=True)
        self._function(name)
        token = self.tokens.issue_run_token(name, {} if payload is None else payload)
        return json_response({"token": token.token, "expiry": token.expiry_ms})

    async def legacy_run(self, request: web.Request) -> web.Response:
        """The seed-era run host: ``POST {EV_CAGE_RUN_URL}{name}``, Api-Key, the bare payload."""
        self.auth.require_key(presented_credential(request), (Scheme.API_KEY,), Permission.RUN_FUNCTION)
        _check_version_header(request)
        function = self._function(request.match_info["name"])
        payload = await self._function_input(function, await read_json(request, self.settings.max_body_bytes))
        if request.headers.get("x-async", "").strip().lower() == "true":
            self.runner.schedule(function, payload)
            return json_response({"status": "queued"}, status=202)
        record = await self.runner.run(function, payload)
        return json_response(_legacy_body(record, self.state.app_id))

    async def _function_input(self, function: RegisteredFunction, payload: Any) -> Any:
        """What ``function`` receives: the decrypted payload, or as sent for samples that never decrypt.

        A coroutine, like every step of a handler that may do CPU work, so decryption can be
        moved off the event loop without changing its callers.
        """
        if not function.decrypts_payload:
            return payload
        return await self._decrypt_document(payload)

    def _function(self, name: str) -> RegisteredFunction:
        function = self.runner.get(name)
        if function is None:
            known = ", ".join(self.runner.names()) or "none"
            raise not_found(
                f"No Function named {name!r} is registered (registered: {known}); start the emulator "
                "with --function name=package.module:callable."
            )
        return function

    # --- relay -----------------------------------------------------------------------------------

    async def relay_outbound(self, request: web.Request) -> web.Response:
        self.auth.require_key(presented_credential(request), (Scheme.API_KEY,))
        body = {
            "appUuid": self.state.app_id,
            "teamUuid": self.state.team_id,
            "strictMode": True,
            "outboundDestinations": {
                dest.domain: self._destination_json(dest) for dest in self.state.relay_destinations
            },
        }
        interval = f"{self.settings.relay_poll_interval:g}"
        return json_response(body, headers={"X-Poll-Interval": interval})

    def _destination_json(self, destination: RelayDestination) -> dict[str, Any]:
        return {
            "id": destination.destination_id,
            "uuid": destination.uuid,
            "appUuid": self.state.app_id,
            "destinationDomain": destination.domain,
            "curve": destination.curve,
            "encryptEmptyStrings": True,
            "routeSpecificFieldsToEncrypt": [],
            "deterministicFieldsToEncrypt": [],
            "createdAt": destination.created_at,
            "updatedAt": destination.created_at,
            "deletedAt": None,
        }

    async def ca_certificate(self, _request: web.Request) -> web.Response:
        # Served without auth: the published SDK sends its Api-Key here, which is ignored.
        pem = self.settings.ca_certificate_pem
        if pem is None:
            raise not_found("This emulator has no Relay CA configured.")
        return web.Response(body=pem, content_type=PEM)

    async def get_relay_destinations(self, request: web.Request) -> web.Response:
        self.auth.require_admin(presented_credential(request))
        return json_response({"destinations": [d.domain for d in self.state.relay_destinations]})

    async def put_relay_destinations(self, request: web.Request) -> web.Response:
        """Replace the Outbound Relay destinations: ``{"destinations": ["api.example.com", ...]}``."""
        self.auth.require_admin(presented_credential(request))
        body = await self._json_object(request, "The relay destinations")
        domains = body.get("destinations")
        if not isinstance(domains, list) or not all(_is_domain(d) for d in domains):
            raise bad_request(
                "'destinations' must be a list of host names such as 'api.example.com' or '*.example.com'."
            )
        saved = self.state.set_relay_destinations(d.strip() for d in domains)
        return json_response({"destinations": [d.domain for d in saved]})

    # --- emulator administration -----------------------------------------------------------------

    async def create_api_key(self, request: web.Request) -> web.Response:
        """Mint a scoped key: ``{"permissions": ["decrypt", ...]}`` -> ``{"apiKey", "permissions"}``."""
        self.auth.require_admin(presented_credential(request))
        body = await self._json_object(request, "The API key request")
        names = body.get("permissions")
        valid = {p.value: p for p in Permission}
        known = isinstance(names, list) and all(isinstance(n, str) and n in valid for n in names)
        if not names or not known:
            raise bad_request(f"'permissions' must be a non-empty list of {sorted(valid)}.")
        key = self.state.add_api_key(valid[n] for n in names)
        return json_response(
            {"apiKey": key.value, "permissions": sorted(p.value for p in key.permissions)}, status=201
        )

    async def reset(self, request: web.Request) -> web.Response:
        """Forget everything tests create; keep the app (id, keys, admin key) and its Functions.

        Wiped: client-side and run tokens, Function run records, relay destinations and every
        API key except the admin key. Kept: the app id, its private keys (old ciphertexts stay
        decryptable) and the admin key, so the settings ``serve`` printed stay valid.
        """
        admin = self.auth.require_admin(presented_credential(request))
        self.tokens.clear()
        self.runner.clear_records()
        self.state.reset(keep_key=admin)
        return json_response({"status": "reset", "appUuid": self.state.app_id})

    async def health(self, _request: web.Request) -> web.Response:
        return json_response({"status": "ok", "appUuid": self.state.app_id})

    async def _json_object(self, request: web.Request, what: str) -> dict[str, Any]:
        return _require_object(await read_json(request, self.settings.max_body_bytes), what)


# --- request bodies --------------------------------------------------------------------------


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, or 413 beyond ``limit`` (aiohttp also enforces it on chunked bodies)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.read()


async def read_json(
    request: web.Request, limit: int, *, expected: tuple[str, ...] = (JSON,), allow_empty: bool = False
) -> Any:
    """The parsed JSON body: 415 for another content type, 400 for invalid JSON."""
    raw = await read_json_bytes(request, limit, expected=expected)
    if allow_empty and not raw.strip():
        return None
    return parse_json_bytes(raw)


async def read_json_bytes(request: web.Request, limit: int, *, expected: tuple[str, ...] = (JSON,)) -> bytes:
    """The raw body of a JSON request, still unparsed: 415 for another content type."""
    if request.content_type != JSON:
        raise ApiError(
            f"Send the body as {JSON} (got {request.content_type!r}); accepted here: {', '.join(expected)}.",
            status_code=415,
            code="unsupported-media-type",
        )
    return await read_body(request, limit)


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON as Python writes it.

    A decrypted NaN or infinite number (the Python SDK encrypts ``float("nan")`` as the text
    ``nan``) is written ``NaN``/``Infinity``/``-Infinity`` as Python's ``json`` does, so a
    Python client gets the exact value back; every finite document is standard JSON.
    """
    try:
        text = json.dumps(body)
    except RecursionError:
        raise bad_request("The document is nested too deeply to answer.") from None
    return web.Response(status=status, body=text.encode("utf-8"), content_type=JSON, headers=headers)


def _require_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"{what} must be a JSON object.")
    return body


def _run_request(body: dict[str, Any]) -> tuple[Any, bool]:
    """``(payload, async)`` of a run request ``{"payload": ..., "async": bool}``."""
    if "payload" not in body:
        raise bad_request("'payload' is required: the data to run the Function with.")
    run_async = body.get("async")
    if run_async is None:  # Node, Go and Ruby send only the payload
        run_async = False
    if not isinstance(run_async, bool):
        raise bad_request("'async' must be true or false.")
    return body["payload"], run_async


def _check_version_header(request: web.Request) -> None:
    version = request.headers.get("x-version-id")
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which no version number is.
    if version is not None and not _ASCII_DIGITS.fullmatch(version.strip()):
        raise bad_request("x-version-id must be a Function version number (ASCII digits 0-9).")


def _is_domain(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not any(c.isspace() for c in value.strip())


def _legacy_body(record: RunRecord, app_id: str) -> dict[str, Any]:
    if record.status == "success":
        return {"result": record.result, "runId": record.run_id, "appUuid": app_id}
    return {**record.to_json(), "runId": record.run_id, "appUuid": app_id}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
