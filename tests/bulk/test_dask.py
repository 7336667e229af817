"""evervault.bulk.dask on a real dask.distributed LocalCluster (2 worker processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")
pytest.importorskip("distributed", reason="the dask extra is not installed")

import cloudpickle
import dask.dataframe as dd
from distributed import Client as DaskClient
from distributed import LocalCluster

from evervault.bulk import KeySpec
from evervault.bulk.dask import encrypt_dataframe
from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import people, secret_material


@pytest.fixture(scope="module")
def dask_client() -> Iterator[DaskClient]:
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = DaskClient(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_encrypt_on_a_local_cluster(
    evervault_local: LocalEvervault, key_spec: KeySpec, dask_client: DaskClient
) -> None:
    frame = pd.DataFrame(people(2_000))
    frame.loc[5, "card"] = None
    ddf = dd.from_pandas(frame, npartitions=6)
    encrypted = encrypt_dataframe(ddf, ["card", "score"], key_spec, role="billing")
    result = dask_client.compute(encrypted).result(timeout=240)
    assert len(result) == 2_000
    assert result["name"].tolist() == frame["name"].tolist()
    assert result["card"][5] is None
    cards = [value for value in result["card"].tolist() if value is not None]
    assert all(value.startswith("ev:") for value in cards)
    expected = frame["card"].dropna().tolist()
    sample = slice(None, None, 97)
    assert evervault_local.client.decrypt(cards[sample]) == expected[sample]
    assert evervault_local.client.decrypt(result["score"].tolist()[:20]) == frame["score"].tolist()[:20]


def test_the_task_graph_carries_public_keys_only(evervault_local: LocalEvervault, key_spec: KeySpec) -> None:
    ddf = dd.from_pandas(pd.DataFrame(people(10)), npartitions=2)
    graph = dict(encrypt_dataframe(ddf, ["card"], key_spec).__dask_graph__())
    shipped = cloudpickle.dumps(graph)  # what the scheduler sends to workers, task by task
    assert key_spec.public_key in shipped
    for secret in secret_material(evervault_local):  # API key, its secret part, private keys
        assert secret not in shipped
