"""Function runs (sync, async, failures, timeouts), run tokens and the seed-era run host."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from evervault.local.functions import FunctionContext, RegisteredFunction
from tests.local.conftest import Api, ApiFactory, Reply, assert_problem

RELEASE = threading.Event()


def wait_for_release(payload: Any) -> Any:
    # Blocks until the test releases it (or 5 s): the run outlives a 0.05-s timeout.
    RELEASE.wait(5)
    return payload


async def async_double(payload: dict[str, int], context: FunctionContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"doubled": payload["n"] * 2, "function": context.function_name}


def returns_a_set(payload: Any) -> Any:
    return {1, 2}


def exits(payload: Any) -> Any:
    raise SystemExit(3)


async def async_interrupts(payload: Any) -> Any:
    raise KeyboardInterrupt


@pytest.fixture
async def fapi(api_factory: ApiFactory) -> Api:
    functions = [
        RegisteredFunction.create("blocked", wait_for_release, 0.05),
        RegisteredFunction.create("held", wait_for_release, 60),
        RegisteredFunction.create("double", async_double, 5),
        RegisteredFunction.create("not-json", returns_a_set, 5),
        RegisteredFunction.create("exits", exits, 5),
        RegisteredFunction.create("interrupts", async_interrupts, 5),
    ]
    # 'echo' proves here that Functions get plaintext; it is never registered by default.
    api: Api = await api_factory(functions, unsafe_echo_function=True)
    return api


async def _run(
    api: Api, name: str, payload: Any, *, run_async: bool = False, headers: dict[str, str] | None = None
) -> Reply:
    return await api.call(
        "POST",
        f"functions/{name}/runs",
        headers=headers or api.basic(),
        json_body={"payload": payload, "async": run_async},
    )


async def test_a_function_receives_the_decrypted_payload(fapi: Api) -> None:
    document = {"name": "Ada", "n": 3, "ok": True}
    reply = await _run(fapi, "echo", fapi.encrypt(document))
    assert reply.status == 200
    body = reply.json()
    assert body["status"] == "success" and body["result"] == document
    assert body["id"].startswith("func_run_")


async def test_a_function_with_two_parameters_gets_the_context(fapi: Api) -> None:
    body = (await _run(fapi, "hello", fapi.encrypt({"name": "Bo"}))).json()
    assert body["result"]["fields"] == {"name": "string"}
    assert body["result"]["runId"] == body["id"]
    assert (await _run(fapi, "double", {"n": fapi.encrypt(21)})).json()["result"] == {
        "doubled": 42,
        "function": "double",
    }


async def test_an_exception_becomes_a_failure_with_message_and_stack(fapi: Api) -> None:
    reply = await _run(fapi, "fail", {"message": "card declined"})
    assert reply.status == 200
    body = reply.json()
    assert body["status"] == "failure" and body["id"].startswith("func_run_")
    assert body["error"]["message"] == "card declined"
    assert "SampleFunctionError" in body["error"]["stack"] and "Traceback" in body["error"]["stack"]


async def test_even_system_exit_in_a_function_is_only_that_runs_failure(fapi: Api) -> None:
    for name, raised in [("exits", "SystemExit"), ("interrupts", "KeyboardInterrupt")]:
        body = (await _run(fapi, name, {})).json()
        assert body["status"] == "failure" and raised in body["error"]["stack"]
    assert (await _run(fapi, "echo", {"still": "serving"})).json()["result"] == {"still": "serving"}


async def test_a_non_json_result_is_a_failure(fapi: Api) -> None:
    body = (await _run(fapi, "not-json", {})).json()
    assert body["status"] == "failure" and "not JSON" in body["error"]["message"]


async def test_a_run_over_its_timeout_is_the_request_timeout_error(fapi: Api) -> None:
    RELEASE.clear()
    try:
        reply = await _run(fapi, "blocked", {"a": 1})
    finally:
        RELEASE.set()
    assert_problem(reply, 408, "functions/request-timeout")


async def test_async_runs_are_scheduled_then_complete(fapi: Api) -> None:
    reply = await _run(fapi, "echo", {"v": fapi.encrypt("later")}, run_async=True)
    assert reply.status == 202
    scheduled = reply.json()
    assert scheduled["status"] == "scheduled" and scheduled["id"].startswith("func_run_")
    for _ in range(200):
        result = (
            await fapi.call("GET", f"functions/echo/runs/{scheduled['id']}", headers=fapi.basic())
        ).json()
        if result["status"] != "scheduled":
            break
        await asyncio.sleep(0.01)
    assert result == {"id": scheduled["id"], "status": "success", "result": {"v": "later"}}


async def test_async_runs_that_time_out_end_as_failures(fapi: Api) -> None:
    RELEASE.clear()
    try:
        scheduled = (await _run(fapi, "blocked", {}, run_async=True)).json()
        for _ in range(200):
            result = (
                await fapi.call("GET", f"functions/blocked/runs/{scheduled['id']}", headers=fapi.basic())
            ).json()
            if result["status"] != "scheduled":
                break
            await asyncio.sleep(0.01)
    finally:
        RELEASE.set()
    assert result["status"] == "failure" and "did not finish" in result["error"]["message"]


async def test_pending_async_runs_are_bounded(fapi: Api) -> None:
    from evervault.local.functions import MAX_PENDING_ASYNC_RUNS

    RELEASE.clear()
    try:
        for _ in range(MAX_PENDING_ASYNC_RUNS):
            assert (await _run(fapi, "held", {}, run_async=True)).status == 202
        assert_problem(await _run(fapi, "held", {}, run_async=True), 429, "too-many-requests")
    finally:
        RELEASE.set()


async def test_run_lookups_of_unknown_runs_are_404(fapi: Api) -> None:
    assert_problem(
        await fapi.call("GET", "functions/echo/runs/func_run_nope", headers=fapi.basic()), 404, "not-found"
    )
    run_id = (await _run(fapi, "echo", {})).json()["id"]
    # A run is found only under its own Function.
    assert_problem(
        await fapi.call("GET", f"functions/hello/runs/{run_id}", headers=fapi.basic()), 404, "not-found"
    )


async def test_unknown_functions_are_404(fapi: Api) -> None:
    problem = assert_problem(await _run(fapi, "missing", {}), 404, "not-found")
    assert "echo" in problem["detail"]


@pytest.mark.parametrize("body", [{"async": False}, {"payload": {}, "async": "yes"}])
async def test_run_requests_need_a_payload_and_boolean_async(fapi: Api, body: dict[str, Any]) -> None:
    reply = await fapi.call("POST", "functions/echo/runs", headers=fapi.basic(), json_body=body)
    assert_problem(reply, 400, "bad-request")


async def test_version_header_must_be_a_number(fapi: Api) -> None:
    headers = {**fapi.basic(), "x-version-id": "two"}
    assert_problem(await _run(fapi, "echo", {}, headers=headers), 400, "bad-request")
    assert (await _run(fapi, "echo", {}, headers={**fapi.basic(), "x-version-id": "2"})).status == 200


async def test_undecryptable_payloads_are_422(fapi: Api) -> None:
    assert_problem(await _run(fapi, "echo", {"x": "ev:RFVC:bad:$"}), 422, "unprocessable-content")


# --- run tokens ------------------------------------------------------------------------------


async def _run_token(api: Api, name: str, payload: Any) -> str:
    reply = await api.call(
        "POST", f"v2/functions/{name}/run-token", headers=api.api_key_header(), json_body=payload
    )
    assert reply.status == 200, reply.body
    token: str = reply.json()["token"]
    return token


async def test_a_run_token_runs_once_with_its_payload(fapi: Api) -> None:
    payload = {"name": fapi.encrypt("Cy")}
    token = await _run_token(fapi, "hello", payload)
    headers = {"Authorization": f"RunToken {token}"}
    reply = await _run(fapi, "hello", payload, headers=headers)
    assert reply.status == 200 and reply.json()["result"]["fields"] == {"name": "string"}
    assert_problem(await _run(fapi, "hello", payload, headers=headers), 401, "unauthorized")


async def test_a_run_token_is_bound_to_function_and_payload_and_survives_refusals(fapi: Api) -> None:
    token = await _run_token(fapi, "echo", {"a": 1})
    headers = {"Authorization": f"RunToken {token}"}
    assert_problem(await _run(fapi, "echo", {"a": 2}, headers=headers), 403, "forbidden")
    assert_problem(await _run(fapi, "hello", {"a": 1}, headers=headers), 403, "forbidden")
    assert (await _run(fapi, "echo", {"a": 1}, headers=headers)).json()["result"] == {"a": 1}


async def test_a_run_token_expires(fapi: Api) -> None:
    token = await _run_token(fapi, "echo", {})
    fapi.clock.advance(5 * 60)
    assert_problem(
        await _run(fapi, "echo", {}, headers={"Authorization": f"RunToken {token}"}), 401, "unauthorized"
    )


async def test_an_empty_run_token_body_means_an_empty_payload(fapi: Api) -> None:
    reply = await fapi.call(
        "POST",
        "v2/functions/echo/run-token",
        headers=fapi.api_key_header(),
        data=b"",
        content_type="application/json",
    )
    token = reply.json()["token"]
    assert (await _run(fapi, "echo", {}, headers={"Authorization": f"RunToken {token}"})).status == 200


async def test_run_tokens_for_unknown_functions_are_404(fapi: Api) -> None:
    reply = await fapi.call(
        "POST", "v2/functions/missing/run-token", headers=fapi.api_key_header(), json_body={}
    )
    assert_problem(reply, 404, "not-found")


# --- the seed-era run host -------------------------------------------------------------------


async def test_legacy_runs_take_the_bare_payload(fapi: Api) -> None:
    reply = await fapi.call(
        "POST", "run/echo", headers=fapi.api_key_header(), json_body={"v": fapi.encrypt(5)}
    )
    body = reply.json()
    assert reply.status == 200 and body["result"] == {"v": 5}
    assert body["appUuid"] == fapi.state.app_id and body["runId"].startswith("func_run_")


async def test_legacy_async_runs_are_queued(fapi: Api) -> None:
    headers = {**fapi.api_key_header(), "x-async": "true"}
    reply = await fapi.call("POST", "run/echo", headers=headers, json_body={})
    assert reply.status == 202 and reply.json() == {"status": "queued"}


async def test_legacy_failures_keep_message_and_stack(fapi: Api) -> None:
    body = (
        await fapi.call("POST", "run/fail", headers=fapi.api_key_header(), json_body={"message": "m"})
    ).json()
    assert body["status"] == "failure" and body["error"]["message"] == "m"
