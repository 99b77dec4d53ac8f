"""Where connectors may connect: the policy, and the client that checks the address it dials."""

import ipaddress
import ssl
import time
from typing import Any

import httpcore2
import pytest
import uvicorn

from service.connectors import AddressNotAllowed, NetworkPolicy, new_http_client
from service.connectors.base import CallParams, ConnectorError, Target
from service.connectors.network import ADDRESS_NOT_ALLOWED, CONNECTION_LIMITS, GuardedBackend
from service.connectors.openai_connector import OpenAIConnector
from tests.support.fake_openai import VALID_TOKEN, FakeOpenAI

STRICT = NetworkPolicy()
REFUSED = [
    "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::",
    "169.254.169.254", "fe80::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fc00::1",
    "fd12:3456::1", "100.64.0.1", "224.0.0.1", "239.255.255.250", "ff02::1", "240.0.0.1",
    "255.255.255.255", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1", "192.0.2.1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


class TestNetworkPolicy:
    @pytest.mark.parametrize("address", REFUSED)
    def test_strict_refuses_what_is_not_public(self, address):
        assert not STRICT.allows(ipaddress.ip_address(address))
        assert NetworkPolicy(allow_private=True).allows(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", PUBLIC)
    def test_strict_allows_public_addresses(self, address):
        assert STRICT.allows(ipaddress.ip_address(address))

    def test_listed_networks_are_allowed_and_only_they(self):
        policy = NetworkPolicy.from_networks(["127.0.0.0/8", "fd00::/8"], allow_private=False)
        allowed = ["127.0.0.1", "::ffff:127.0.0.1", "fd00::5"]
        assert all(policy.allows(ipaddress.ip_address(address)) for address in allowed)
        refused = ["::1", "10.0.0.1", "169.254.169.254"]
        assert not any(policy.allows(ipaddress.ip_address(address)) for address in refused)


def target(uri: str, **params: Any) -> Target:
    return Target("ep", uri, "model-a", token=VALID_TOKEN, params=CallParams(**params))


async def predict(policy: NetworkPolicy, uri: str, **params: Any) -> str:
    client = new_http_client(policy)
    try:
        async with OpenAIConnector(target(uri, **params), http_client=client) as connector:
            return await connector.predict("Hi")
    finally:
        await client.aclose()


class TestGuardedClient:
    @pytest.mark.parametrize(
        "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "[::1]"]
    )
    async def test_refuses_at_once_without_retrying_or_connecting(
        self, fake_openai: FakeOpenAI, host: str
    ):
        started = time.monotonic()
        with pytest.raises(AddressNotAllowed) as raised:
            await predict(STRICT, f"http://{host}:{fake_openai.port}/v1", max_attempts=3)
        assert str(raised.value) == ADDRESS_NOT_ALLOWED
        assert isinstance(raised.value, ConnectorError)
        # Three attempts with the client's backoff take over a second; a refusal is not retried.
        assert time.monotonic() - started < 1.0
        assert fake_openai.calls == []

    async def test_a_listed_network_is_reached(self, fake_openai: FakeOpenAI):
        policy = NetworkPolicy.from_networks(["127.0.0.0/8"], allow_private=False)
        assert await predict(policy, fake_openai.base_url) == "model-a says: Hi"
        assert [call.authorization for call in fake_openai.calls] == [f"Bearer {VALID_TOKEN}"]

    async def test_a_name_is_dialled_at_its_checked_address(self, fake_openai: FakeOpenAI):
        # localhost may resolve to ::1 first, where nothing listens: the next address is tried.
        policy = NetworkPolicy(allow_private=True)
        answer = await predict(policy, f"http://localhost:{fake_openai.port}/v1")
        assert answer == "model-a says: Hi"

    async def test_an_unknown_name_is_could_not_connect(self):
        with pytest.raises(ConnectorError, match="could not connect"):
            await predict(STRICT, "http://no-such-host.invalid/v1", max_attempts=1)


class RecordingStream(httpcore2.AsyncNetworkStream):
    """A stream that notes the name each TLS handshake on it is asked to verify."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream, tls_names: list) -> None:
        self.inner, self.tls_names = inner, tls_names

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.tls_names.append(server_hostname)
        return await self.inner.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class RecordingBackend(httpcore2.AnyIOBackend):
    """Notes the host each connection dials and the name each TLS handshake verifies."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self.tls_names: list[str | None] = []

    async def connect_tcp(self, host: str, port: int, **options: Any) -> Any:
        self.dialled.append(host)
        return RecordingStream(await super().connect_tcp(host, port, **options), self.tls_names)


async def test_tls_verifies_the_uris_name_while_the_checked_address_is_dialled(
    fake_openai: FakeOpenAI,
):
    inner = RecordingBackend()
    backend = GuardedBackend(NetworkPolicy(allow_private=True), inner)
    pool = httpcore2.AsyncConnectionPool(network_backend=backend)
    async with pool:
        # The fake speaks plain HTTP, so the handshake fails; what matters is what it was given.
        with pytest.raises(httpcore2.ConnectError):
            await pool.request("GET", f"https://localhost:{fake_openai.port}/")
    assert inner.dialled and all(
        ipaddress.ip_address(host).is_loopback for host in inner.dialled
    )
    assert inner.tls_names and set(inner.tls_names) == {"localhost"}


def test_idle_connections_are_dropped_before_common_servers_close_them():
    # uvicorn (as the fake endpoint server), hypercorn and Node close an idle connection after
    # 5 s; a client keeping it as long reuses some just as they close.
    assert CONNECTION_LIMITS.keepalive_expiry is not None
    assert CONNECTION_LIMITS.keepalive_expiry < uvicorn.Config(app=None).timeout_keep_alive
