"""The emulator's Outbound Relay: a TLS-intercepting HTTPS forward proxy (docs/protocol.md §7.6).

An app connects over TLS (the proxy presents a :class:`~evervault.local.pki.LocalCA`
leaf for its own address) and sends ``CONNECT host:port``:

* for a configured destination domain the proxy answers ``200``, terminates the app's
  inner TLS with a leaf issued for ``host``, reads each HTTP/1.1 request with h11,
  decrypts every ev-string in its headers and body, forwards it to the real
  destination over verified TLS and streams the response back;
* any other host is refused (403), unless the proxy was started with
  ``allow_any_destination`` (``serve --relay-allow-any-destination``): then it is
  tunnelled untouched (raw bytes both ways).

Whatever the destinations say, the proxy never connects to cloud metadata services,
link-local addresses or the emulator's own listeners (403); see
:mod:`evervault.local.relay_targets`, which checks every address a host resolves to.

Credentials: ``Proxy-Authorization`` holds the raw API key or ``Basic app_id:key``, where
``app_id`` must be this app's. When it is on the ``CONNECT`` it is checked there (407 if
wrong). Some SDKs send it only inside the tunnel; for destination domains the proxy then
checks it on every inner request, before anything is forwarded, and strips it. A tunnel
to a non-destination host can only be authorised on the ``CONNECT``. Decrypting needs a
key with the ``decrypt`` permission: a valid key without it gets 403 for a destination
(on the ``CONNECT`` when the key is there), and may only use raw tunnels.

The server is thread-based (one daemon thread per connection, bounded), so it runs next
to an asyncio application such as the emulator's aiohttp server. Bad input gets a 4xx
answer and the connection is closed; nothing a client sends can stop the server.

Limits (:class:`ProxyLimits`): a client must be authenticated within ``auth_timeout``
seconds of connecting (TLS handshake and ``CONNECT`` included; with credentials only
inside the tunnel, its first inner request) or it is dropped. Unauthenticated clients
have their own ``max_pending`` slots; when they are full the oldest one is dropped, so
idle connections can never keep an authenticated client out. Authenticated tunnels
hold one of ``max_connections`` slots; beyond it a client gets a ``503`` at once. A
leaf certificate for the requested host is issued only after authentication; a
tunnel still waiting for credentials sees the certificate of the configured
destination it matched (``*.example.com`` for a wildcard), so unauthenticated clients
cannot make the CA issue a leaf per random host name.

The modules, one job each (each imports only those listed before it):

* :mod:`.streams` - the ``Stream`` protocol, TLS over memory BIOs, the raw tunnel pump;
* :mod:`.messages` - h11 over a stream: reading requests, the proxy's error answers;
* :mod:`.slots` - :class:`ProxyLimits`, authentication deadlines and connection slots;
* :mod:`.policy` - credentials, destinations and target checks (:class:`AccessPolicy`);
* :mod:`.context` - what a connection needs from the running proxy (:class:`ProxyContext`);
* :mod:`.interception` - requests inside an intercepted tunnel: decrypt, forward, stream back;
* :mod:`.session` - one connection's ``CONNECT``: authenticate, check, intercept or tunnel;
* :mod:`.server` - :class:`RelayProxy`: listen, accept, one worker per connection, stop.
"""

from evervault.local.relay_proxy.context import ProxyContext, RequestDecryption
from evervault.local.relay_proxy.interception import Interceptor
from evervault.local.relay_proxy.messages import PROXY_REALM, BodyTooLarge
from evervault.local.relay_proxy.policy import (
    Access,
    AccessPolicy,
    ProxyCredential,
    parse_connect_target,
    parse_proxy_credential,
)
from evervault.local.relay_proxy.server import RelayProxy
from evervault.local.relay_proxy.session import Session
from evervault.local.relay_proxy.slots import ClientConnection, ConnectionSlots, ProxyLimits
from evervault.local.relay_proxy.streams import READ_CHUNK, PrefixedStream, Stream, TlsStream, pump

__all__ = [
    "PROXY_REALM",
    "READ_CHUNK",
    "Access",
    "AccessPolicy",
    "BodyTooLarge",
    "ClientConnection",
    "ConnectionSlots",
    "Interceptor",
    "PrefixedStream",
    "ProxyContext",
    "ProxyCredential",
    "ProxyLimits",
    "RelayProxy",
    "RequestDecryption",
    "Session",
    "Stream",
    "TlsStream",
    "parse_connect_target",
    "parse_proxy_credential",
    "pump",
]
