"""Column encryption for Dask DataFrames, partition by partition on the Dask workers.

    from evervault.bulk import KeySpec
    from evervault.bulk.dask import encrypt_dataframe

    spec = KeySpec.from_client(client)          # the app's public keys, fetched once here
    encrypted = encrypt_dataframe(ddf, ["card", "ssn"], spec)
    encrypted.to_parquet("out/")                # runs on the cluster

What the task graph carries to the workers is a module-level function (pickled by
reference) and the :class:`KeySpec`: the app's public key, never the API key. Every
worker process builds its own session key from it on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from evervault.bulk.columns import encrypt_dataframe as encrypt_pandas
from evervault.bulk.columns import parse_columns
from evervault.bulk.keyspec import KeySpec
from evervault.domain.errors import InvalidArgumentError


def encrypt_dataframe(
    frame: Any, columns: str | Sequence[str], spec: KeySpec, role: str | None = None
) -> Any:
    """A lazy ``dask.dataframe.DataFrame``: ``frame`` with ``columns`` encrypted (object columns).

    ``role`` (if given) overrides ``spec.role``. Nothing runs until the result is computed.
    """
    names = parse_columns(columns)
    if role is not None:
        spec = spec.with_role(role)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InvalidArgumentError(f"Columns {missing} are not in the Dask DataFrame.")
    meta = encrypted_meta(frame._meta, names)
    return frame.map_partitions(encrypt_partition, names, spec, meta=meta)


def encrypt_partition(partition: pd.DataFrame, columns: tuple[str, ...], spec: KeySpec) -> pd.DataFrame:
    """One partition encrypted (runs on a worker, with that worker's own session key)."""
    return encrypt_pandas(partition, columns, spec)


def encrypted_meta(meta: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The empty frame describing the result: encrypted columns become ``object``."""
    result = meta.copy()
    for name in columns:
        result[name] = pd.Series([], index=meta.index, dtype=object)
    return result
