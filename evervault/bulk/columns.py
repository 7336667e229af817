"""Column encryption over Arrow record batches, Arrow tables and pandas DataFrames.

Values follow the SDK's typing rules because every value goes through
:meth:`Encryptor.encrypt`: strings become string ev-strings, integers and floats
``number`` ev-strings, booleans ``boolean`` ev-strings, lists and structs become
lists and structs of ev-strings. Nulls stay null. Encrypted columns are Arrow
``string`` columns (or lists/structs of ``string``), whatever the input type.

A column is named by its name, or for a field inside a struct column by a dotted
path (``user.card``); a top-level column whose name itself contains a dot wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from evervault.bulk.keyspec import KeySpec
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import EvervaultError, InvalidArgumentError, UnsupportedTypeError

if TYPE_CHECKING:
    import pandas as pd

ColumnPath = tuple[str, ...]
ArrayTransform = Callable[[pa.Array, str], pa.Array]


def parse_columns(columns: str | Iterable[str]) -> tuple[str, ...]:
    """``"a,b.c"`` or ``["a", "b.c"]`` as a tuple of column names; empty or repeated names are errors."""
    names = [part.strip() for part in columns.split(",")] if isinstance(columns, str) else list(columns)
    if not names or any(not isinstance(name, str) or not name for name in names):
        raise InvalidArgumentError("Name at least one column to encrypt, e.g. --columns card,ssn.")
    if len(set(names)) != len(names):
        raise InvalidArgumentError("A column is named twice in the column list.")
    return tuple(names)


def resolve_path(schema: pa.Schema, name: str) -> ColumnPath:
    """The field path for ``name`` in ``schema``: the column itself, or a dotted struct path."""
    if name in schema.names:
        return (name,)
    parts = tuple(name.split("."))
    field_type: pa.DataType | None = None
    fields: Sequence[pa.Field] = list(schema)
    for part in parts:
        match = next((field for field in fields if field.name == part), None)
        if match is None:
            break
        field_type = match.type
        fields = list(field_type) if pa.types.is_struct(field_type) else []
    else:
        return parts
    raise InvalidArgumentError(f"Column {name!r} is not in the input (columns: {', '.join(schema.names)}).")


def encrypted_type(data_type: pa.DataType, name: str) -> pa.DataType:
    """The Arrow type of column ``name`` once encrypted: strings where the values were."""
    if pa.types.is_dictionary(data_type):
        return encrypted_type(data_type.value_type, name)
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_null(data_type)
    ):
        return pa.string()
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return pa.list_(encrypted_type(data_type.value_type, name))
    if pa.types.is_struct(data_type):
        return pa.struct([pa.field(f.name, encrypted_type(f.type, name)) for f in data_type])
    raise UnsupportedTypeError(
        f"Column {name!r} has Arrow type {data_type}; only strings, numbers, booleans and "
        "lists/structs of them can be encrypted. Cast the column (e.g. to string) first."
    )


def encrypt_values(encryptor: Encryptor, values: list[Any], role: str | None) -> list[Any]:
    """Encrypt each non-null value; nulls stay ``None``. One encryptor call for the whole list."""
    present = [value for value in values if value is not None]
    if not present:
        return values
    sealed = iter(encryptor.encrypt(present, role))
    return [None if value is None else next(sealed) for value in values]


def encrypt_array(array: pa.Array, name: str, spec: KeySpec) -> pa.Array:
    """One Arrow array encrypted (see the module docs for the typing rules)."""
    target = encrypted_type(array.type, name)
    if isinstance(array, pa.DictionaryArray):
        array = array.dictionary_decode()
    try:
        encrypted = encrypt_values(spec.encryptor(), array.to_pylist(), spec.role)
    except EvervaultError as exc:
        raise type(exc)(f"Column {name!r}: {exc}") from None
    return pa.array(encrypted, type=target)


def transform_batch(
    batch: pa.RecordBatch, columns: Sequence[str], transform: ArrayTransform
) -> pa.RecordBatch:
    """``batch`` with each named column (or struct field) replaced by ``transform(array, name)``."""
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for name in columns:
        path = resolve_path(batch.schema, name)
        index = names.index(path[0])
        arrays[index] = _replace_at(arrays[index], path[1:], name, transform)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def encrypt_record_batch(batch: pa.RecordBatch, columns: Sequence[str], spec: KeySpec) -> pa.RecordBatch:
    """``batch`` with the named columns encrypted under ``spec``; other columns untouched."""
    return transform_batch(batch, columns, lambda array, name: encrypt_array(array, name, spec))


def encrypt_table(table: pa.Table, columns: Sequence[str], spec: KeySpec) -> pa.Table:
    """``table`` with the named columns encrypted, batch by batch."""
    for name in columns:
        resolve_path(table.schema, name)  # fail before any work on a missing column
    batches = [encrypt_record_batch(batch, columns, spec) for batch in table.to_batches()]
    if not batches:
        return pa.Table.from_batches([], schema=encrypted_schema(table.schema, columns))
    return pa.Table.from_batches(batches)


def encrypted_schema(schema: pa.Schema, columns: Sequence[str]) -> pa.Schema:
    """The schema of a batch with ``columns`` encrypted."""
    # pa.nulls, not pa.array([]): converting Python lists makes pyarrow import pandas,
    # ~40 MiB in a process (the parent of a bulk job) that never needs it.
    empty = pa.RecordBatch.from_arrays([pa.nulls(0, field.type) for field in schema], schema=schema)
    return transform_batch(
        empty, columns, lambda array, name: pa.nulls(0, encrypted_type(array.type, name))
    ).schema


def _replace_at(array: pa.Array, path: ColumnPath, name: str, transform: ArrayTransform) -> pa.Array:
    if not path:
        return transform(array, name)
    if not isinstance(array, pa.StructArray):
        raise InvalidArgumentError(f"Column {name!r}: {path[0]!r} is not inside a struct column.")
    # flatten() folds the struct's own nulls into its children, so a null struct's
    # fields are null too (and stay null); the rebuilt struct keeps the struct's mask.
    children = array.flatten()
    fields = list(array.type)
    position = next(i for i, field in enumerate(fields) if field.name == path[0])
    children[position] = _replace_at(children[position], path[1:], name, transform)
    mask = array.is_null() if array.null_count else None
    return pa.StructArray.from_arrays(children, names=[f.name for f in fields], mask=mask)


# --- pandas ------------------------------------------------------------------------------------


def encrypt_dataframe(frame: pd.DataFrame, columns: Sequence[str] | str, spec: KeySpec) -> pd.DataFrame:
    """A copy of ``frame`` with the named columns encrypted (object columns of ev-strings).

    Missing values (``None``, ``NaN``, ``pd.NA``, ``NaT``) stay missing (as ``None``).
    """
    import pandas as pd

    names = parse_columns(columns)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InvalidArgumentError(f"Columns {missing} are not in the DataFrame.")
    result = frame.copy()
    encryptor = spec.encryptor()
    for name in names:
        series = frame[name]
        values = series.tolist()  # Python scalars, except inside object columns
        if series.dtype == object:
            values = [_python_value(value) for value in values]
        missing = series.isna().to_numpy()
        if missing.any():
            values = [None if gone else value for value, gone in zip(values, missing.tolist(), strict=True)]
        try:
            encrypted = encrypt_values(encryptor, values, spec.role)
        except EvervaultError as exc:
            raise type(exc)(f"Column {name!r}: {exc}") from None
        result[name] = pd.Series(encrypted, index=series.index, dtype=object)
    return result


def _python_value(value: Any) -> Any:
    """NumPy scalars (``np.int64``, ``np.bool_``) as the Python values the SDK encrypts."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value
