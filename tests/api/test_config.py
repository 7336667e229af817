"""Settings from constructor arguments and the published SDK's environment variables."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault import Client, ConfigurationError, ExceededMaxFileSizeError
from evervault.adapters.recording_http import RecordingTransport
from evervault.domain.curves import Curve
from evervault.ports.http import HttpResponse
from evervault.services.config import ClientConfig, RelaySettings
from evervault.services.retry import NO_RETRY, RetryPolicy
from tests.api.api_support import API_KEY, APP_ID

FULL_ENV = {
    "EV_API_URL": "http://127.0.0.1:3000/api",
    "EV_TUNNEL_HOSTNAME": "https://relay.local:8443",
    "EV_CERT_HOSTNAME": "http://127.0.0.1:3000/ca",
    "EV_ENCLAVE_HOST": "enclave.local",
    "EV_CAGES_HOST": "cage.local",
    "EV_MAX_FILE_SIZE_IN_MB": "3",
    "EV_PCR_PROVIDER_POLL_INTERVAL": "12.5",
}


def build(**options: Any) -> ClientConfig:
    options.setdefault("environ", {})
    return ClientConfig.build(APP_ID, API_KEY, **options)


def test_defaults_are_the_public_endpoints() -> None:
    config = build()
    assert config.api_url == "https://api.evervault.com/"
    assert config.relay == RelaySettings()
    assert config.relay.tunnel_url == "https://relay.evervault.com:443"
    assert config.relay.cert_url == "https://ca.evervault.com"
    assert (config.enclave_host, config.cages_host) == ("enclave.evervault.com", "cage.evervault.com")
    assert config.max_file_size_bytes == 25 * 1024 * 1024
    assert config.pcr_poll_interval == 300.0
    assert config.request_timeout == 30.0
    assert config.curve is Curve.SECP256K1
    assert config.retry == NO_RETRY


def test_environment_variables_are_read_and_the_api_url_gets_its_slash() -> None:
    config = build(environ=FULL_ENV)
    assert config.api_url == "http://127.0.0.1:3000/api/"
    assert config.relay.tunnel_url == "https://relay.local:8443"
    assert config.relay.cert_url == "http://127.0.0.1:3000/ca"
    assert (config.enclave_host, config.cages_host) == ("enclave.local", "cage.local")
    assert config.max_file_size_bytes == 3 * 1024 * 1024
    assert config.pcr_poll_interval == 12.5


def test_constructor_arguments_win_over_the_environment() -> None:
    config = build(
        environ=FULL_ENV,
        api_url="https://eu.example.test/",
        tunnel_url="https://r.example.test",
        cert_url="https://ca.example.test",
        enclave_host="e.example.test",
        cages_host="c.example.test",
        max_file_size_in_mb=7,
        pcr_poll_interval=1,
    )
    assert config.api_url == "https://eu.example.test/"
    assert config.relay.tunnel_url == "https://r.example.test"
    assert config.relay.cert_url == "https://ca.example.test"
    assert (config.enclave_host, config.cages_host) == ("e.example.test", "c.example.test")
    assert config.max_file_size_bytes == 7 * 1024 * 1024
    assert config.pcr_poll_interval == 1.0


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EV_API_URL", "http://localhost:9999")
    assert ClientConfig.build(APP_ID, API_KEY).api_url == "http://localhost:9999/"


@pytest.mark.parametrize(
    ("name", "curve"),
    [
        ("SECP256K1", Curve.SECP256K1),
        ("secp256k1", Curve.SECP256K1),
        ("SECP256R1", Curve.P256),
        ("p256", Curve.P256),
        ("prime256v1", Curve.P256),
        (Curve.P256, Curve.P256),
    ],
)
def test_curve_names_and_aliases(name: Any, curve: Curve) -> None:
    assert build(curve=name).curve is curve


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        ({"curve": "ed25519"}, "curve"),
        ({"curve": 256}, "curve"),
        ({"environ": {"EV_API_URL": "ftp://files.example"}}, "EV_API_URL"),
        ({"environ": {"EV_API_URL": "not a url"}}, "EV_API_URL"),
        ({"api_url": "https://x.test/?q=1"}, "api_url"),
        ({"api_url": "http://[::1/"}, "api_url"),
        ({"environ": {"EV_TUNNEL_HOSTNAME": "https://[relay"}}, "EV_TUNNEL_HOSTNAME"),
        ({"environ": {"EV_TUNNEL_HOSTNAME": "relay"}}, "EV_TUNNEL_HOSTNAME"),
        ({"environ": {"EV_CERT_HOSTNAME": "//ca"}}, "EV_CERT_HOSTNAME"),
        ({"environ": {"EV_ENCLAVE_HOST": "https://enclave.evervault.com"}}, "EV_ENCLAVE_HOST"),
        ({"environ": {"EV_CAGES_HOST": "a b"}}, "EV_CAGES_HOST"),
        ({"environ": {"EV_MAX_FILE_SIZE_IN_MB": "abc"}}, "EV_MAX_FILE_SIZE_IN_MB"),
        ({"environ": {"EV_MAX_FILE_SIZE_IN_MB": "0"}}, "EV_MAX_FILE_SIZE_IN_MB"),
        ({"environ": {"EV_MAX_FILE_SIZE_IN_MB": "-1"}}, "EV_MAX_FILE_SIZE_IN_MB"),
        ({"environ": {"EV_MAX_FILE_SIZE_IN_MB": "\u00b2"}}, "EV_MAX_FILE_SIZE_IN_MB"),  # isdigit, not int
        ({"environ": {"EV_MAX_FILE_SIZE_IN_MB": "9" * 5000}}, "EV_MAX_FILE_SIZE_IN_MB"),
        ({"request_timeout": 10**400}, "request_timeout"),  # beyond float range
        ({"pcr_poll_interval": 10**400}, "pcr_poll_interval"),
        ({"max_file_size_in_mb": 2.5}, "max_file_size_in_mb"),
        ({"environ": {"EV_PCR_PROVIDER_POLL_INTERVAL": "often"}}, "EV_PCR_PROVIDER_POLL_INTERVAL"),
        ({"environ": {"EV_PCR_PROVIDER_POLL_INTERVAL": "0"}}, "EV_PCR_PROVIDER_POLL_INTERVAL"),
        ({"environ": {"EV_PCR_PROVIDER_POLL_INTERVAL": "inf"}}, "EV_PCR_PROVIDER_POLL_INTERVAL"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"request_timeout": True}, "request_timeout"),
        ({"request_timeout": "soon"}, "request_timeout"),
        ({"retry": "yes"}, "retry"),
        ({"decryption_domains": "api.example.com"}, "decryption_domains"),
        ({"decryption_domains": ["ok.example.com", ""]}, "decryption domain"),
        ({"debug_requests": "true"}, "debug_requests"),
    ],
)
def test_invalid_settings_are_configuration_errors_naming_the_setting(
    options: dict[str, Any], mentions: str
) -> None:
    with pytest.raises(ConfigurationError, match=mentions):
        build(**options)


@pytest.mark.parametrize(("app_id", "api_key"), [("", API_KEY), (None, API_KEY), (APP_ID, ""), (APP_ID, 42)])
def test_missing_credentials_say_to_call_init(app_id: Any, api_key: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"evervault\.init"):
        ClientConfig.build(app_id, api_key, environ={})


def test_deprecated_relay_arguments_are_validated_and_recorded() -> None:
    with pytest.warns(DeprecationWarning, match=r"evervault\.enable_outbound_relay"):
        client = Client(
            APP_ID,
            API_KEY,
            environ={},
            decryption_domains=["api.example.com", "*.example.org"],
            debug_requests=True,
            enable_outbound_relay=True,
        )
    assert client.relay_settings.decryption_domains == ("api.example.com", "*.example.org")
    assert client.relay_settings.debug_requests and client.relay_settings.enable_outbound_relay


def test_retry_flag_and_policy() -> None:
    assert build(retry=True).retry == RetryPolicy()
    custom = RetryPolicy(max_retries=1)
    assert build(retry=custom).retry is custom


def test_max_file_size_from_environment_limits_encrypt(keys_body: dict[str, str]) -> None:
    import json

    transport = RecordingTransport([HttpResponse(200, body=json.dumps(keys_body).encode())])
    client = Client(APP_ID, API_KEY, environ={"EV_MAX_FILE_SIZE_IN_MB": "1"}, transport=transport)
    assert client.encrypt(b"\x00" * (1024 * 1024)).startswith(b"%EVENC")  # exactly the limit is allowed
    with pytest.raises(ExceededMaxFileSizeError):
        client.encrypt(b"\x00" * (1024 * 1024 + 1))


@settings(max_examples=60, deadline=None)
@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    port=st.none() | st.integers(min_value=1, max_value=65535),
    path=st.from_regex(r"(/[a-z0-9]{1,8}){0,3}/?", fullmatch=True),
)
def test_any_http_base_url_is_normalised_to_end_with_one_slash(
    host: str, port: int | None, path: str
) -> None:
    url = f"http://{host}{'' if port is None else f':{port}'}{path}"
    normalised = build(api_url=url).api_url
    assert normalised.endswith("/") and not normalised.endswith("//")
    assert normalised.rstrip("/") == url.rstrip("/")
