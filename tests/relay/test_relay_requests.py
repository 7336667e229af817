"""requests through the relay: module-level calls and Sessions, scoping, and a clean disable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
import requests.sessions
from pytest_httpserver import HTTPServer
from werkzeug import Response

from evervault.adapters import relay_requests
from evervault.bootstrap.clients import Client
from evervault.domain.encryption import Encryptor
from evervault.services.relay import disable_outbound_relay, enable_outbound_relay

from .conftest import AppKeys, FakeApi
from .relay_support import API_KEY, RecordingTunnelProxy, echo_url


@pytest.fixture(scope="module", autouse=True)
def streaming_endpoint(echo: HTTPServer) -> None:
    """``/stream`` answers with a body of unknown length (chunked on the wire)."""
    echo.expect_request("/stream").respond_with_handler(lambda request: Response(iter(STREAM_PARTS)))


REPO_ROOT = Path(__file__).resolve().parents[2]
STREAM_PARTS = [b"part-%d;" % index for index in range(50)]
ORIGINALS = {
    "HTTPAdapter.send": requests.adapters.HTTPAdapter.send,
    "Session.request": requests.Session.request,
    "Session.send": requests.Session.send,
    "rebuild_proxies": requests.sessions.SessionRedirectMixin.rebuild_proxies,
}


def body_seen(response: requests.Response) -> Any:
    response.raise_for_status()
    return json.loads(response.json()["body"])


def encrypted_document(encryptor: Encryptor) -> dict[str, Any]:
    encrypted: dict[str, Any] = encryptor.encrypt({"card": "4242 4242 4242 4242", "cvc": 123})
    return encrypted


def test_module_level_post_is_relayed_and_ciphertext_goes_out_without_the_relay(
    client: Client, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    document = encrypted_document(app_keys.encryptor)
    direct = requests.post(echo_url(echo), json=document, verify=destination_ca_file, timeout=10)
    assert body_seen(direct) == document  # no relay: the destination gets ciphertext

    enable_outbound_relay(client, decryption_domains=["localhost"])
    relayed = requests.post(echo_url(echo), json=document, timeout=10)
    assert body_seen(relayed) == {"card": "4242 4242 4242 4242", "cvc": 123}
    assert "Proxy-Authorization" not in relayed.json()["headers"]


def test_sessions_created_before_and_after_enabling_are_relayed(
    client: Client, echo: HTTPServer, app_keys: AppKeys
) -> None:
    document = encrypted_document(app_keys.encryptor)
    before = requests.Session()
    enable_outbound_relay(client, decryption_domains=["LOCALHOST"])
    after = requests.Session()
    for session in (before, after):
        with session:
            assert body_seen(session.post(echo_url(echo), json=document, timeout=10))["cvc"] == 123


def test_other_domains_keep_the_callers_proxies_and_verify_and_never_see_the_key(
    client: Client,
    echo: HTTPServer,
    app_keys: AppKeys,
    destination_ca_file: str,
    callers_proxy: RecordingTunnelProxy,
) -> None:
    document = encrypted_document(app_keys.encryptor)
    enable_outbound_relay(client, decryption_domains=["localhost"])
    with requests.Session() as session:
        # verify per request: REQUESTS_CA_BUNDLE in the environment would override session.verify.
        session.proxies = {"https": callers_proxy.url}
        response = session.post(
            echo_url(echo, "127.0.0.1"), json=document, timeout=10, verify=destination_ca_file
        )
        assert body_seen(response) == document
        assert [seen.target for seen in callers_proxy.seen] == [f"127.0.0.1:{echo.port}"]
        assert API_KEY not in json.dumps(callers_proxy.seen[0].headers)
        assert API_KEY not in json.dumps(response.json()["headers"])
        # The caller's verify setting still applies: the default trust refuses the test CA.
        with pytest.raises(requests.exceptions.SSLError):
            session.post(echo_url(echo, "127.0.0.1"), json=document, timeout=10, verify=True)


def test_http_urls_are_never_relayed_and_never_carry_the_key(
    client: Client, plain_echo: HTTPServer, app_keys: AppKeys
) -> None:
    document = encrypted_document(app_keys.encryptor)
    enable_outbound_relay(client, decryption_domains=["localhost"])
    response = requests.post(echo_url(plain_echo, scheme="http"), json=document, timeout=10)
    assert body_seen(response) == document
    assert API_KEY not in json.dumps(response.json()["headers"])
    # Published defect (docs/protocol.md §9.8): a later call without headers must not carry the key either.
    again = requests.get(echo_url(plain_echo, scheme="http"), timeout=10)
    assert API_KEY not in json.dumps(again.json()["headers"])


def test_concurrent_requests_from_many_threads(client: Client, echo: HTTPServer, app_keys: AppKeys) -> None:
    enable_outbound_relay(client, decryption_domains=["localhost"])
    values = [app_keys.encryptor.encrypt(f"value-{index}") for index in range(8)]
    results: dict[int, Any] = {}

    def send(index: int) -> None:
        with requests.Session() as session:
            results[index] = body_seen(session.post(echo_url(echo), json={"v": values[index]}, timeout=20))

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(values))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {index: {"v": f"value-{index}"} for index in range(len(values))}


def test_disable_restores_the_exact_original_objects(client: Client, echo: HTTPServer) -> None:
    enable_outbound_relay(client, decryption_domains=["localhost"])
    assert relay_requests.is_installed()
    enable_outbound_relay(client, decryption_domains=["localhost"])  # enabling twice is fine
    disable_outbound_relay()
    disable_outbound_relay()  # and so is disabling twice
    assert not relay_requests.is_installed()
    current = {
        "HTTPAdapter.send": requests.adapters.HTTPAdapter.send,
        "Session.request": requests.Session.request,
        "Session.send": requests.Session.send,
        "rebuild_proxies": requests.sessions.SessionRedirectMixin.rebuild_proxies,
    }
    assert all(current[name] is ORIGINALS[name] for name in ORIGINALS)


BEHAVIOUR_PROBE = """
import json, sys, requests
url, document, verify = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
outcomes = []
response = requests.post(url, json=document, verify=verify, timeout=10)
seen = response.json()
outcomes.append([response.status_code, seen["body"], sorted(k for k in seen["headers"] if k != "Host")])
try:
    requests.post(url, json=document, timeout=10)
    outcomes.append("no error")
except requests.exceptions.SSLError:
    outcomes.append("SSLError")
print(json.dumps(outcomes))
"""


def probe_in_this_process(url: str, document: Any, verify: str) -> Any:
    namespace: dict[str, Any] = {}
    import contextlib
    import io

    output = io.StringIO()
    argv = sys.argv
    sys.argv = ["probe", url, json.dumps(document), verify]
    try:
        with contextlib.redirect_stdout(output):
            exec(BEHAVIOUR_PROBE, namespace)  # the same probe as the fresh interpreter runs
    finally:
        sys.argv = argv
    return json.loads(output.getvalue())


def test_after_disable_requests_behaves_as_in_a_fresh_interpreter(
    client: Client, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    document = encrypted_document(app_keys.encryptor)
    enable_outbound_relay(client, decryption_domains=["localhost"])
    assert probe_in_this_process(echo_url(echo), document, destination_ca_file)[1] == "no error"  # relayed
    disable_outbound_relay()

    here = probe_in_this_process(echo_url(echo), document, destination_ca_file)
    fresh = subprocess.run(
        [sys.executable, "-c", BEHAVIOUR_PROBE, echo_url(echo), json.dumps(document), destination_ca_file],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert here == json.loads(fresh.stdout)
    assert json.loads(here[0][1]) == document and here[1] == "SSLError"


LIFECYCLE_PROBE = """
import json, os, sys, tempfile, threading, requests
from evervault.bootstrap.clients import Client
from evervault.services.relay import enable_outbound_relay, disable_outbound_relay
app_id, api_key, api_url, ca_url, relay_url, url, document = sys.argv[1:8]
threads_before = {thread.ident for thread in threading.enumerate()}
client = Client(app_id, api_key, base_url=api_url, ca_host=ca_url, relay_url=relay_url, environ={})
relay = enable_outbound_relay(client)  # configuration mode: starts the poller
polling = relay.is_polling
body = requests.post(url, json=json.loads(document), timeout=10).json()["body"]
disable_outbound_relay()
client.close()
print(json.dumps({
    "polling_while_enabled": polling,
    "body": json.loads(body),
    "threads_left": [t.name for t in threading.enumerate() if t.ident not in threads_before],
    "temp_files": os.listdir(tempfile.gettempdir()),
}))
"""


def test_no_temporary_file_and_no_thread_survives(
    client: Client, echo: HTTPServer, app_keys: AppKeys, fake_api: FakeApi, tmp_path: Path
) -> None:
    # A fresh interpreter with a private, empty temporary directory: other processes on this
    # machine cannot add files to it, so anything found there was left behind by the relay.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    config = client.config
    arguments = [
        config.app_id,
        config.api_key,
        config.api_url,
        config.relay.cert_url,
        config.relay.tunnel_url,
        echo_url(echo),
        json.dumps(encrypted_document(app_keys.encryptor)),
    ]
    env = {**os.environ, "TMPDIR": str(private_tmp), "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", LIFECYCLE_PROBE, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
        cwd=REPO_ROOT,
    )
    outcome = json.loads(completed.stdout)
    assert outcome["polling_while_enabled"] is True
    assert outcome["body"] == {"card": "4242 4242 4242 4242", "cvc": 123}
    assert outcome["threads_left"] == []
    assert outcome["temp_files"] == []


def test_chunked_uploads_and_streamed_responses_pass_through_the_relay(
    client: Client, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("streamed secret")
    enable_outbound_relay(client, decryption_domains=["localhost"])

    def chunks() -> Any:
        yield b"value="
        yield secret.encode()

    response = requests.post(
        echo_url(echo), data=chunks(), headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert response.json()["body"] == "value=streamed secret"

    streamed = requests.get(f"https://localhost:{echo.port}/stream", stream=True, timeout=10)
    assert streamed.headers.get("Transfer-Encoding") == "chunked"
    assert b"".join(streamed.iter_content(None)) == b"".join(STREAM_PARTS)


def test_the_relay_adapter_connects_through_the_relay_on_every_requests_version() -> None:
    # requests < 2.32 (pyproject allows 2.31) opens connections with get_connection(), newer
    # releases with get_connection_with_tls_context(): both must give the relay's pool, or
    # a relayed request would silently go out directly.
    import ssl

    from evervault.adapters.relay_urllib3 import RelayProxyManagers
    from evervault.services.relay import RelayRoute

    managers = RelayProxyManagers()
    route = RelayRoute("https://127.0.0.1:9", {"Proxy-Authorization": API_KEY}, ssl.create_default_context())
    adapter = relay_requests.RelayHTTPAdapter(managers, route, requests.adapters.HTTPAdapter.send)
    url = "https://destination.test:8443/path"
    relay_pool = managers.for_route(route).connection_from_url(url)
    prepared = requests.Request("GET", url).prepare()
    try:
        assert adapter.get_connection_with_tls_context(prepared, True) is relay_pool
        assert adapter.get_connection(url) is relay_pool
        assert adapter.get_connection(url, {"https": "http://other-proxy.test:3128"}) is relay_pool
    finally:
        managers.clear()
        adapter.close()


def test_an_attested_session_is_never_relayed(client: Client) -> None:
    # The relay terminates TLS, so a relayed connection cannot be attested: with the relay
    # enabled for an enclave's host, the attested session must still attest (and here
    # refuse, PCRs being wrong) on a direct connection instead of relaying unattested.
    from evervault.bootstrap.attestation import cage_requests_session
    from evervault.domain.attestation import NitroTrustRoot
    from evervault.domain.errors import AttestationError
    from evervault.local.enclave import EnclaveSimulator

    simulator = EnclaveSimulator(name="hello", app_id="app_123456789abc")
    with simulator as info:
        enable_outbound_relay(client, decryption_domains=[simulator.hostname])
        session = cage_requests_session(
            {"hello": {"pcr_8": "00" * 48}},
            app_id="app_123456789abc",
            trust_root=NitroTrustRoot.for_testing_only(info.root_certificate_pem),
            ca_bundle=info.ca_bundle_path,
            address_override=info.address_override,
        )
        with session, pytest.raises(AttestationError) as refused:
            session.post(f"{info.url}/echo", data=b"card number", timeout=10)
        assert refused.value.kind == "pcr-mismatch"
        assert simulator.received == []
