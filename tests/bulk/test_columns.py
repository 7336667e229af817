"""evervault.bulk over Arrow and pandas: typing rules, nulls, nested paths, errors, decrypted
through the real emulator."""

from __future__ import annotations

import pickle

import pandas as pd
import pyarrow as pa
import pytest

from evervault.bulk import KeySpec, encrypt_dataframe, encrypt_record_batch, encrypt_table, parse_columns
from evervault.domain.curves import Curve
from evervault.domain.errors import InvalidArgumentError, InvalidRoleError, UnsupportedTypeError
from evervault.local.pytest_plugin import LocalEvervault


def is_ev(value: object, datatype: str = "") -> bool:
    if not isinstance(value, str) or not value.startswith("ev:") or not value.endswith(":$"):
        return False
    return not datatype or f":{datatype}:" in value


def test_arrow_columns_follow_the_sdk_typing_rules(
    evervault_local: LocalEvervault, key_spec: KeySpec
) -> None:
    table = pa.table(
        {
            "text": ["4242", None, ""],
            "count": pa.array([1, 2, None], pa.int64()),
            "ratio": [0.5, None, -2.25],
            "flag": [True, False, None],
            "untouched": ["a", "b", "c"],
        }
    )
    encrypted = encrypt_table(table, ["text", "count", "ratio", "flag"], key_spec)
    assert encrypted.column("untouched").equals(table.column("untouched"))
    for name in ("text", "count", "ratio", "flag"):
        assert encrypted.schema.field(name).type == pa.string()
    rows = encrypted.to_pylist()
    assert is_ev(rows[0]["text"]) and ":number:" not in rows[0]["text"]
    assert is_ev(rows[0]["count"], "number") and is_ev(rows[0]["ratio"], "number")
    assert is_ev(rows[0]["flag"], "boolean")
    assert rows[1]["text"] is None and rows[2]["count"] is None and rows[2]["flag"] is None
    client = evervault_local.client
    for name in ("text", "count", "ratio", "flag"):
        values = encrypted.column(name).to_pylist()
        present = [v for v in values if v is not None]
        expected = [v for v in table.column(name).to_pylist() if v is not None]
        assert client.decrypt(present) == expected


def test_nested_struct_path_and_lists(evervault_local: LocalEvervault, key_spec: KeySpec) -> None:
    batch = pa.RecordBatch.from_pylist(
        [
            {"user": {"name": "Ada", "card": "4111"}, "tags": ["x", "y"]},
            {"user": None, "tags": None},
            {"user": {"name": "Bob", "card": None}, "tags": []},
        ]
    )
    encrypted = encrypt_record_batch(batch, ["user.card", "tags"], key_spec)
    rows = encrypted.to_pylist()
    assert rows[0]["user"]["name"] == "Ada" and is_ev(rows[0]["user"]["card"])
    assert rows[1]["user"] is None and rows[1]["tags"] is None
    assert rows[2]["user"] == {"name": "Bob", "card": None} and rows[2]["tags"] == []
    assert all(is_ev(tag) for tag in rows[0]["tags"])
    client = evervault_local.client
    assert client.decrypt(rows[0]["user"]["card"]) == "4111"
    assert client.decrypt(rows[0]["tags"]) == ["x", "y"]


def test_role_is_attached(evervault_local: LocalEvervault, key_spec: KeySpec) -> None:
    table = pa.table({"card": ["4242"]})
    encrypted = encrypt_table(table, ["card"], key_spec.with_role("billing"))
    value = encrypted.column("card")[0].as_py()
    # A role puts a metadata frame in the ciphertext (a different version tag from no role).
    plain = encrypt_table(table, ["card"], key_spec).column("card")[0].as_py()
    assert value.split(":")[1] != plain.split(":")[1]
    assert evervault_local.client.decrypt(value) == "4242"


def test_pandas_dataframe(evervault_local: LocalEvervault, key_spec: KeySpec) -> None:
    frame = pd.DataFrame(
        {
            "card": ["4242", None, "5555"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [1.5, float("nan"), 2.0],
            "keep": ["a", "b", "c"],
        }
    )
    encrypted = encrypt_dataframe(frame, "card,n,x", key_spec)
    assert encrypted["keep"].tolist() == ["a", "b", "c"]
    assert frame["card"].tolist()[0] == "4242"  # the input frame is not modified
    assert encrypted["card"][1] is None and encrypted["n"][1] is None and encrypted["x"][1] is None
    client = evervault_local.client
    assert client.decrypt([encrypted["card"][0], encrypted["card"][2]]) == ["4242", "5555"]
    assert client.decrypt([encrypted["n"][0], encrypted["n"][2]]) == [1, 3]
    assert client.decrypt([encrypted["x"][0], encrypted["x"][2]]) == [1.5, 2.0]


def test_errors_are_typed(key_spec: KeySpec) -> None:
    with pytest.raises(InvalidArgumentError, match="not in the input"):
        encrypt_table(pa.table({"a": ["x"]}), ["b"], key_spec)
    with pytest.raises(UnsupportedTypeError, match="Cast the column"):
        encrypt_table(pa.table({"a": pa.array([b"x"], pa.binary())}), ["a"], key_spec)
    with pytest.raises(InvalidArgumentError):
        parse_columns("a,,b")
    with pytest.raises(InvalidArgumentError):
        parse_columns(["a", "a"])
    with pytest.raises(InvalidRoleError):
        key_spec.with_role("Not A Role!")
    with pytest.raises(InvalidArgumentError):
        KeySpec("app", Curve.SECP256K1, b"\x02" + b"\x00" * 31)


def test_key_spec_pickles_with_public_material_only(
    evervault_local: LocalEvervault, key_spec: KeySpec
) -> None:
    shipped = pickle.dumps(key_spec)
    assert evervault_local.api_key.encode() not in shipped
    assert key_spec.public_key in shipped
    restored = pickle.loads(shipped)
    assert restored == key_spec
    assert set(vars(restored)) == {"app_id", "curve", "public_key", "role"}
