"""Concurrency: 1 and 16 concurrent clients decrypting through a `serve` subprocess.

Bounded (a few hundred requests, loopback only). Asserts zero errors, zero wrong
answers and zero lost responses; the request rates are printed, never asserted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evervault.local.loadgen import Sample, decrypt_load, make_sample
from tests.local.serve_process import serve

REQUESTS_PER_RUN = 400
DOCUMENT = {"name": "Ada Lovelace", "card": "4242424242424242", "cvv": 123, "amount": 19.99, "vip": True}


@pytest.mark.parametrize("concurrency", [1, 16])
def test_concurrent_decrypts_lose_nothing(tmp_path: Path, concurrency: int) -> None:
    with serve("--data-dir", str(tmp_path / "d"), "--no-relay") as served:
        with served.client() as client:
            samples: list[Sample] = [
                make_sample(client.encrypt({**DOCUMENT, "n": n}), {**DOCUMENT, "n": n}) for n in range(8)
            ]
        line = served.line
        result = asyncio.run(
            decrypt_load(
                line["api_url"],
                line["app_id"],
                line["api_key"],
                samples,
                total_requests=REQUESTS_PER_RUN,
                concurrency=concurrency,
            )
        )
        assert served.stop() == 0
    print("\n" + result.summary())
    assert result.sent == REQUESTS_PER_RUN
    assert (result.responses, result.wrong, result.errors, result.lost) == (REQUESTS_PER_RUN, 0, 0, 0)


def test_the_load_generator_refuses_non_loopback_targets() -> None:
    from evervault.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        asyncio.run(
            decrypt_load(
                "http://example.com/", "app", "key", [Sample(b"{}", {})], total_requests=1, concurrency=1
            )
        )
