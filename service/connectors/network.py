"""Which addresses endpoint calls may connect to, enforced where the connection is made.

An endpoint's URI is user input: checked on its text, a name resolving to 127.0.0.1 (or one that
resolves differently the second time) would get through. So the check runs in the connection
layer, on every address the host resolves to, and the connection goes to the checked address.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore2
import httpx2
import openai
from httpcore2 import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

from service.connectors.base import ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# NAT64's well-known prefix: its last 32 bits are the IPv4 address a NAT64 gateway connects to.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# One text whatever is (or is not) listening there: the call never connected.
ADDRESS_NOT_ALLOWED = (
    "the endpoint's address is not allowed (not a public address; "
    "SPARRING_ENDPOINT_ALLOW_NETWORKS can allow its network)"
)


class AddressNotAllowed(ConnectorError):
    """The endpoint's host is, or resolves to, an address the policy refuses.

    Not an httpx or OpenAI error, so the client neither wraps it nor retries it.
    """

    def __init__(self) -> None:
        super().__init__(ADDRESS_NOT_ALLOWED)


@dataclass(frozen=True)
class NetworkPolicy:
    """Public addresses always; the others only when `allow_private` or listed."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_networks(cls, networks: Iterable[str], *, allow_private: bool) -> "NetworkPolicy":
        return cls(
            allow_private=allow_private,
            allowed_networks=tuple(ipaddress.ip_network(item, strict=False) for item in networks),
        )

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # ::ffff:127.0.0.1 is 127.0.0.1 on the wire.
            address = address.ipv4_mapped
        if self.allow_private or any(address in network for network in self.allowed_networks):
            return True
        return is_public(address)


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, link-local, private, unique-local, reserved...

    IPv6 forms that carry an IPv4 address (6to4, NAT64) are public only if that one is too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


class GuardedBackend(AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses `policy` allows.

    The host is resolved here and the inner backend is given the checked IP literal, so what is
    checked is what is connected to. TLS still verifies the URI's host name: httpcore passes the
    request origin's host to `start_tls` as `server_hostname`, not the host it connected to.
    """

    def __init__(self, policy: NetworkPolicy, inner: AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        # Every address must pass: a name may answer a public and a private one in turn.
        if not all(self.policy.allows(address) for address in addresses):
            raise AddressNotAllowed()
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # `_resolve` gives at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        # Endpoints are URLs; a socket path would bypass the address check.
        raise AddressNotAllowed()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> Sequence[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError as error:
        raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from error
    except (OSError, UnicodeError) as error:
        raise httpcore2.ConnectError(f"could not resolve {host}") from error
    addresses = list(dict.fromkeys(
        ipaddress.ip_address(str(sockaddr[0]))
        for family, _, _, _, sockaddr in found
        if family in (socket.AF_INET, socket.AF_INET6)
    ))
    if not addresses:
        raise httpcore2.ConnectError(f"could not resolve {host}")
    return addresses


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx's own transport, its connection pool connecting through a `GuardedBackend`."""

    def __init__(self, policy: NetworkPolicy, limits: httpx2.Limits) -> None:
        super().__init__(limits=limits)
        # httpx's transport takes no network backend, so its pool is made again with one; the
        # rest (request mapping, error mapping) stays httpx's.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


# An idle connection is dropped a second before the 5 s after which uvicorn, hypercorn and
# Node close theirs (the openai client's default is those same 5 s): reusing one the server is
# closing that instant broke about one call in a thousand of a long run (`ReadError`), a call
# lost on an endpoint allowed one attempt.
KEEPALIVE_EXPIRY_S = 4.0
CONNECTION_LIMITS = httpx2.Limits(
    max_connections=openai.DEFAULT_CONNECTION_LIMITS.max_connections,
    max_keepalive_connections=openai.DEFAULT_CONNECTION_LIMITS.max_keepalive_connections,
    keepalive_expiry=KEEPALIVE_EXPIRY_S,
)


def guarded_http_client(policy: NetworkPolicy) -> httpx2.AsyncClient:
    """An HTTP client for connectors that connects only where `policy` allows."""
    return openai.DefaultAsyncHttpxClient(
        transport=GuardedTransport(policy, CONNECTION_LIMITS),
        # No proxies or .netrc from the environment: a proxy would be what is connected to.
        trust_env=False,
    )
