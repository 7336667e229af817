"""Column encryption for Spark DataFrames with ``mapInArrow``, on the executors.

    from evervault.bulk import KeySpec
    from evervault.bulk.spark import encrypt_columns

    spec = KeySpec.from_client(client)          # the app's public keys, fetched once on the driver
    encrypted = encrypt_columns(df, ["card", "user.ssn"], spec)
    encrypted.write.parquet("out/")

Spark pickles :class:`EncryptBatches` - the column names and the :class:`KeySpec`
(public key material only) - and ships it to every Python worker, which builds its own
session key from it. Encrypted columns become ``string`` columns (arrays/structs of
``string`` where the values were arrays/structs); nulls stay null.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from evervault.bulk.columns import encrypt_record_batch, parse_columns
from evervault.bulk.keyspec import KeySpec
from evervault.domain.errors import InvalidArgumentError, UnsupportedTypeError


@dataclass(frozen=True)
class EncryptBatches:
    """The ``mapInArrow`` function: record batches in, the same batches with columns encrypted out."""

    columns: tuple[str, ...]
    spec: KeySpec

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield encrypt_record_batch(batch, self.columns, self.spec)


def encrypt_columns(frame: Any, columns: str | Sequence[str], spec: KeySpec, role: str | None = None) -> Any:
    """``frame`` (a ``pyspark.sql.DataFrame``) with ``columns`` encrypted; lazy, like any transformation.

    Columns are top-level names or dotted paths into struct columns. ``role`` (if given)
    overrides ``spec.role``.
    """
    names = parse_columns(columns)
    if role is not None:
        spec = spec.with_role(role)
    schema = frame.schema
    for name in names:
        schema = _with_encrypted_field(schema, name)
    return frame.mapInArrow(EncryptBatches(names, spec), schema)


def _with_encrypted_field(schema: Any, name: str) -> Any:
    path = [name] if name in schema.names else name.split(".")
    return _replace(schema, path, name)


def _replace(struct: Any, path: list[str], name: str) -> Any:
    from pyspark.sql.types import StructField, StructType

    fields = []
    found = False
    for field in struct.fields:
        if field.name == path[0]:
            found = True
            if len(path) == 1:
                new_type = encrypted_spark_type(field.dataType, name)
            elif isinstance(field.dataType, StructType):
                new_type = _replace(field.dataType, path[1:], name)
            else:
                raise InvalidArgumentError(f"Column {name!r}: {path[0]!r} is not a struct column.")
            fields.append(StructField(field.name, new_type, True, field.metadata))
        else:
            fields.append(field)
    if not found:
        raise InvalidArgumentError(f"Column {name!r} is not in the DataFrame.")
    return StructType(fields)


def encrypted_spark_type(data_type: Any, name: str) -> Any:
    """The Spark type of an encrypted column of ``data_type`` (strings where the values were)."""
    from pyspark.sql import types as t

    scalar = (t.StringType, t.BooleanType, t.ByteType, t.ShortType, t.IntegerType, t.LongType)
    if isinstance(data_type, (*scalar, t.FloatType, t.DoubleType, t.NullType)):
        return t.StringType()
    if isinstance(data_type, t.ArrayType):
        return t.ArrayType(encrypted_spark_type(data_type.elementType, name), True)
    if isinstance(data_type, t.StructType):
        return t.StructType(
            [t.StructField(f.name, encrypted_spark_type(f.dataType, name), True) for f in data_type.fields]
        )
    raise UnsupportedTypeError(
        f"Column {name!r} has Spark type {data_type.simpleString()}; only strings, numbers, booleans "
        "and arrays/structs of them can be encrypted. Cast the column (e.g. to string) first."
    )
