"""Bulk column encryption: Arrow record batches, pandas DataFrames, files, Dask and Spark.

Needs the ``bulk`` extra (``pip install 'evervault-sdk[bulk]'``); Dask and Spark need
the ``dask`` and ``spark`` extras. Only public key material (:class:`KeySpec`) is ever
handed to worker processes, Dask workers or Spark executors; each builds its own
session key from it.

    from evervault import Client
    from evervault.bulk import KeySpec, encrypt_table

    spec = KeySpec.from_client(Client(app_id, api_key))   # fetches the public keys once
    encrypted = encrypt_table(table, ["card", "user.ssn"], spec)
"""

from evervault.bulk.columns import (
    encrypt_dataframe,
    encrypt_record_batch,
    encrypt_table,
    encrypted_schema,
    parse_columns,
)
from evervault.bulk.files import decrypt_file, default_workers, encrypt_file
from evervault.bulk.formats import FileFormat
from evervault.bulk.keyspec import KeySpec
from evervault.bulk.runner import JobResult

__all__ = [
    "FileFormat",
    "JobResult",
    "KeySpec",
    "decrypt_file",
    "default_workers",
    "encrypt_dataframe",
    "encrypt_file",
    "encrypt_record_batch",
    "encrypt_table",
    "encrypted_schema",
    "parse_columns",
]
