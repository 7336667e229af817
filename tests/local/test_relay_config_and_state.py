"""Outbound Relay configuration, the CA endpoint, emulator admin endpoints, and the data directory."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from evervault.domain.errors import ConfigurationError
from evervault.domain.relay import parse_relay_outbound_config
from evervault.local.pki import LocalCA
from evervault.local.state import (
    ALL_PERMISSIONS,
    KEY_FILES,
    STATE_FILE,
    LocalState,
    Permission,
    app_hash,
)
from tests.local.conftest import Api, assert_problem


async def test_relay_outbound_reports_destinations_and_poll_interval(api: Api) -> None:
    api.state.set_relay_destinations(["api.example.com", "*.payments.test"])
    reply = await api.call("GET", "v2/relay-outbound", headers=api.api_key_header())
    assert reply.status == 200 and reply.headers["X-Poll-Interval"] == "2.5"
    body = reply.json()
    assert body["appUuid"] == api.state.app_id and body["teamUuid"] == api.state.team_id
    destination = body["outboundDestinations"]["api.example.com"]
    assert destination["destinationDomain"] == "api.example.com"
    assert destination["uuid"].startswith("outbound_destination_") and isinstance(destination["id"], int)
    assert destination["deletedAt"] is None and destination["appUuid"] == api.state.app_id
    config = parse_relay_outbound_config(body, reply.headers["X-Poll-Interval"])
    assert config.decryption_domains == ("api.example.com", "*.payments.test")
    assert config.poll_interval == 2.5


async def test_destinations_change_at_runtime_and_keep_their_ids(api: Api) -> None:
    put = await api.call(
        "PUT",
        "_local/relay-destinations",
        headers=api.api_key_header(),
        json_body={"destinations": ["a.test", "b.test"]},
    )
    assert put.json() == {"destinations": ["a.test", "b.test"]}
    first = (await api.call("GET", "v2/relay-outbound", headers=api.api_key_header())).json()[
        "outboundDestinations"
    ]
    await api.call(
        "PUT",
        "_local/relay-destinations",
        headers=api.api_key_header(),
        json_body={"destinations": ["b.test"]},
    )
    second = (await api.call("GET", "v2/relay-outbound", headers=api.api_key_header())).json()[
        "outboundDestinations"
    ]
    assert list(second) == ["b.test"] and second["b.test"]["uuid"] == first["b.test"]["uuid"]
    listed = await api.call("GET", "_local/relay-destinations", headers=api.api_key_header())
    assert listed.json() == {"destinations": ["b.test"]}
    assert LocalState.load_or_create(api.state.data_dir).relay_destinations[0].domain == "b.test"


@pytest.mark.parametrize(
    "body", [{"destinations": "a.test"}, {"destinations": ["has space"]}, {"destinations": [1]}, {}]
)
async def test_bad_destination_lists_are_400(api: Api, body: object) -> None:
    reply = await api.call("PUT", "_local/relay-destinations", headers=api.api_key_header(), json_body=body)
    assert_problem(reply, 400, "bad-request")


async def test_the_ca_endpoint_serves_the_relay_ca_without_auth(api: Api) -> None:
    reply = await api.call("GET", "ca.crt")
    assert reply.status == 200
    certificate = x509.load_pem_x509_certificate(reply.body)
    assert reply.body == LocalCA.load_or_create(api.state.data_dir).cert_pem
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The published SDK sends its Api-Key here; that is accepted and ignored.
    assert (await api.call("GET", "ca.crt", headers={"Api-Key": "anything"})).status == 200


async def test_minted_api_keys_have_the_scoped_form_and_their_permissions(api: Api) -> None:
    reply = await api.call(
        "POST", "_local/api-keys", headers=api.api_key_header(), json_body={"permissions": ["decrypt"]}
    )
    assert reply.status == 201
    key = reply.json()["apiKey"]
    assert reply.json()["permissions"] == ["decrypt"]
    assert _is_scoped_key(key, api.state.app_id)
    encrypted = api.encrypt("ok")
    assert (
        await api.call("POST", "decrypt", headers=api.basic(key), json_body={"data": encrypted})
    ).json() == {"data": "ok"}
    assert_problem(
        await api.call("POST", "functions/hello/runs", headers=api.basic(key), json_body={"payload": {}}),
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"permissions": []},
        {"permissions": ["fly"]},
        {"permissions": "decrypt"},
        # Unhashable entries once escaped as a TypeError and a 500.
        {"permissions": [[]]},
        {"permissions": [{"decrypt": True}]},
    ],
)
async def test_bad_key_requests_are_400(api: Api, body: object) -> None:
    assert_problem(
        await api.call("POST", "_local/api-keys", headers=api.api_key_header(), json_body=body),
        400,
        "bad-request",
    )


async def test_health_needs_no_auth(api: Api) -> None:
    assert (await api.call("GET", "_local/health")).json() == {"status": "ok", "appUuid": api.state.app_id}


# --- the data directory ------------------------------------------------------------------------


def _is_scoped_key(key: str, app_id: str) -> bool:
    parts = key.split(":")
    return len(parts) == 6 and parts[:3] == ["ev", "key", "1"] and parts[4] == app_hash(app_id) and all(parts)


def test_app_hash_matches_the_documented_example() -> None:
    assert app_hash("app_1234abcd5678") == "ti6aDz"


def test_a_new_directory_gets_an_app_keys_and_a_full_key(tmp_path: Path) -> None:
    state = LocalState.load_or_create(tmp_path / "new")
    assert state.app_id.startswith("app_") and state.team_id.startswith("team_")
    assert state.admin_key().permissions == ALL_PERMISSIONS
    assert _is_scoped_key(state.admin_key().value, state.app_id)
    assert state.admin_key().value not in repr(state) and state.admin_key().secret not in repr(
        state.admin_key()
    )


def test_every_file_is_private_and_the_directory_too(tmp_path: Path) -> None:
    state = LocalState.load_or_create(tmp_path / "d")
    state.add_api_key([Permission.DECRYPT])
    for name in [STATE_FILE, *KEY_FILES.values()]:
        assert stat.S_IMODE((state.data_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(state.data_dir.stat().st_mode) == 0o700
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in state.data_dir.iterdir()) == sorted([STATE_FILE, *KEY_FILES.values()])


def test_reloading_keeps_everything(tmp_path: Path) -> None:
    first = LocalState.load_or_create(tmp_path / "d")
    limited = first.add_api_key([Permission.DECRYPT, Permission.CREATE_TOKENS])
    first.set_relay_destinations(["x.test"])
    second = LocalState.load_or_create(tmp_path / "d")
    assert (second.app_id, second.team_id) == (first.app_id, first.team_id)
    assert second.find_api_key(limited.value) == limited
    assert second.admin_key() == first.admin_key()
    assert second.relay_destinations == first.relay_destinations
    for curve, key in first.private_keys.items():
        assert second.private_keys[curve].private_numbers() == key.private_numbers()


def test_unknown_or_malformed_keys_are_not_found(tmp_path: Path) -> None:
    state = LocalState.load_or_create(tmp_path / "d")
    real = state.admin_key().value
    for presented in ["", "nope", real + "x", real[:-1], real.replace("ev:key", "ev:kex")]:
        assert state.find_api_key(presented) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / STATE_FILE).write_text("{not json"),
        lambda d: (d / STATE_FILE).write_text(json.dumps({"format": 99})),
        lambda d: (d / STATE_FILE).write_text(json.dumps({"format": 1, "appId": "app_x", "apiKeys": "no"})),
        lambda d: (d / KEY_FILES[next(iter(KEY_FILES))]).write_text("garbage"),
        lambda d: (d / KEY_FILES[next(iter(KEY_FILES))]).unlink(),
    ],
    ids=["bad-json", "future-format", "bad-field", "bad-key", "missing-key"],
)
def test_a_damaged_directory_is_a_clear_configuration_error(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    state = LocalState.load_or_create(tmp_path / "d")
    damage(state.data_dir)
    with pytest.raises(ConfigurationError) as raised:
        LocalState.load_or_create(tmp_path / "d")
    assert str(raised.value)


def test_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError):
        LocalState.load_or_create(tmp_path / "file")
