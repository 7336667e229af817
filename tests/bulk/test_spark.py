"""evervault.bulk.spark with pyspark in local[2] mode (needs a JVM: Java 17)."""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no JVM: pyspark needs Java 17 (java on PATH or JAVA_HOME)", allow_module_level=True)

from pyspark import cloudpickle
from pyspark.sql import SparkSession
from pyspark.sql import types as t

from evervault.bulk import KeySpec
from evervault.bulk.spark import EncryptBatches, encrypt_columns
from evervault.domain.errors import UnsupportedTypeError
from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import secret_material

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("evervault-bulk-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def test_encrypt_columns_with_map_in_arrow(
    evervault_local: LocalEvervault, key_spec: KeySpec, spark: Any
) -> None:
    schema = t.StructType(
        [
            t.StructField("id", t.LongType()),
            t.StructField("card", t.StringType()),
            t.StructField(
                "user",
                t.StructType([t.StructField("name", t.StringType()), t.StructField("ssn", t.StringType())]),
            ),
            t.StructField("active", t.BooleanType()),
        ]
    )
    rows = [(i, None if i == 3 else f"4242{i:012d}", (f"n{i}", f"{i:09d}"), i % 2 == 0) for i in range(200)]
    frame = spark.createDataFrame(rows, schema)  # local[2]: two partitions, two Python workers
    encrypted = encrypt_columns(frame, ["card", "user.ssn", "active"], key_spec)
    assert encrypted.schema["active"].dataType == t.StringType()
    result = sorted(encrypted.collect(), key=lambda row: row["id"])
    assert len(result) == 200
    assert result[3]["card"] is None
    assert result[7]["user"]["name"] == "n7" and result[7]["user"]["ssn"].startswith("ev:")
    assert ":boolean:" in result[0]["active"]
    client = evervault_local.client
    assert client.decrypt([result[i]["card"] for i in (0, 7, 199)]) == [rows[i][1] for i in (0, 7, 199)]
    assert client.decrypt(result[7]["user"]["ssn"]) == "000000007"
    assert client.decrypt(result[1]["active"]) is False


def test_unsupported_column_type_is_typed(key_spec: KeySpec, spark: Any) -> None:
    frame = spark.createDataFrame([(datetime.date(2024, 1, 2),)], "d date")
    with pytest.raises(UnsupportedTypeError, match="date"):
        encrypt_columns(frame, ["d"], key_spec)


def test_the_shipped_function_carries_public_keys_only(
    evervault_local: LocalEvervault, key_spec: KeySpec
) -> None:
    function = EncryptBatches(("card",), key_spec)
    shipped = cloudpickle.dumps(function)  # Spark serialises the mapInArrow function this way
    assert key_spec.public_key in shipped
    for secret in secret_material(evervault_local):  # API key, its secret part, private keys
        assert secret not in shipped
    assert cloudpickle.loads(shipped) == function
