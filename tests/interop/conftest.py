"""Fixtures for driving the published evervault==5.1.3 SDK against our test app's keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer

from evervault.domain.curves import Curve, private_key_from_scalar
from evervault.domain.decryption import Decryptor
from tests.interop.interop_app import APP_SCALARS, KeyEndpoint, app_keys_body
from tests.support.published_sdk import published_sdk_python


@pytest.fixture(scope="session")
def published_sdk() -> Path:
    """Build (or reuse) the published SDK's virtualenv once per session."""
    return published_sdk_python()


@pytest.fixture(scope="session")
def app_private_keys() -> dict[Curve, ec.EllipticCurvePrivateKey]:
    return {curve: private_key_from_scalar(curve, scalar) for curve, scalar in APP_SCALARS.items()}


@pytest.fixture
def decryptor(app_private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]) -> Decryptor:
    return Decryptor(app_private_keys)


@pytest.fixture
def key_endpoint(
    httpserver_ipv4: HTTPServer, app_private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]
) -> KeyEndpoint:
    # No header condition on the handler: a missing or wrong Api-Key should fail the
    # test's explicit header assertion, not surface as an opaque SDK error.
    httpserver_ipv4.expect_request("/cages/key", method="GET").respond_with_json(
        app_keys_body(app_private_keys)
    )
    return KeyEndpoint(httpserver_ipv4)
