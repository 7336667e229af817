"""The public ``Client`` and ``AsyncClient``: the service clients with their default adapters.

The services take every collaborator as a parameter; this module, part of the composition
root, supplies the defaults: the urllib3 transport for :class:`Client`, the aiohttp one for
:class:`AsyncClient`, and the encryptor on the system clock and OS randomness. Constructor
parameters and behaviour are those of :class:`~evervault.services.client.ClientCore`.
"""

from __future__ import annotations

from evervault.adapters.aiohttp_http import AiohttpTransport
from evervault.adapters.system import default_encryptor
from evervault.adapters.urllib3_http import Urllib3Transport
from evervault.ports.http import AsyncHttpTransport, HttpTransport
from evervault.services import async_client, client
from evervault.services.operations import EncryptorFactory


class Client(client.Client):
    """One Evervault app (blocking). The first positional parameters follow the published ``Client``::

        Client(app_id, api_key, request_timeout=30, base_url=None, relay_url=None, ca_host=None,
               retry=False, curve="SECP256K1", max_file_size_in_mb=None, *, transport=None,
               key_source=None, enclave_host=None, cages_host=None, pcr_poll_interval=None,
               environ=None, clock=time.time, sleep=time.sleep, retry_clock=None,
               encryptor_factory=None)

    ``base_url``/``relay_url``/``ca_host`` default to ``EV_API_URL``/``EV_TUNNEL_HOSTNAME``/
    ``EV_CERT_HOSTNAME`` and then the public endpoints; ``transport`` replaces the default
    urllib3 transport; ``key_source`` replaces the ``GET cages/key`` fetch; ``clock``
    (epoch seconds), ``sleep`` and ``retry_clock`` exist so tests control time.
    """

    def _default_transport(self) -> HttpTransport:
        return Urllib3Transport()

    def _default_encryptor_factory(self) -> EncryptorFactory:
        return default_encryptor


class AsyncClient(async_client.AsyncClient):
    """One Evervault app, for asyncio code (``async with AsyncClient(...) as client``).

    Parameters as :class:`Client`; the default transport is aiohttp and ``sleep`` defaults
    to ``asyncio.sleep``.
    """

    def _default_transport(self) -> AsyncHttpTransport:
        return AiohttpTransport()

    def _default_encryptor_factory(self) -> EncryptorFactory:
        return default_encryptor
