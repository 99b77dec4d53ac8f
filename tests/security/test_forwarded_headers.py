"""Forwarded headers count only from the proxies SPARRING_FORWARDED_ALLOW_IPS names.

Without that, anyone on the host could claim to be a trusted client by sending
`X-Forwarded-For: <trusted address>` to the server on 127.0.0.1.
"""

import pytest

from service.http.guards import forwarded_client, networks
from service.settings import Settings
from tests.security.conftest import WA

TRUSTED = "10.9.9.9"
SESSIONS = "/api/v1/sessions/name"


def trusting(settings: Settings, **fields: object) -> Settings:
    return Settings(
        **{**settings.model_dump(), "trusted_clients": [TRUSTED], "trusted_user": "alice", **fields}
    )


class TestWithoutAProxy:
    @pytest.fixture
    def security_settings(self, required_settings: Settings) -> Settings:
        return trusting(required_settings)

    @pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
    async def test_a_forged_address_does_not_make_a_trusted_client(self, world, header):
        value = f"for={TRUSTED}" if header == "Forwarded" else TRUSTED
        async with world.client(**{header: value, "X-Workspace": WA}) as client:
            response = await client.get(SESSIONS)
        assert response.status_code == 401, response.text
        assert "detail" in response.json()

    async def test_keys_still_work(self, world):
        async with world.client(world.carol, **{"X-Forwarded-For": TRUSTED}) as client:
            assert (await client.get(SESSIONS)).status_code == 200


class TestBehindAnAllowedProxy:
    @pytest.fixture
    def security_settings(self, required_settings: Settings) -> Settings:
        # The test client connects from 127.0.0.1: here it plays the proxy.
        return trusting(required_settings, forwarded_allow_ips=["127.0.0.1"])

    async def test_the_address_the_proxy_saw_is_the_client(self, world):
        async with world.client(**{"X-Forwarded-For": TRUSTED, "X-Workspace": WA}) as client:
            response = await client.get(SESSIONS)
        assert response.status_code == 200, response.text

    async def test_an_address_forged_left_of_the_proxys_is_ignored(self, world):
        # The proxy appends what it saw (203.0.113.5); the client made up what is left of it.
        forged = {"X-Forwarded-For": f"{TRUSTED}, 203.0.113.5", "X-Workspace": WA}
        async with world.client(**forged) as client:
            assert (await client.get(SESSIONS)).status_code == 401


class TestForwardedClient:
    PROXIES = networks(["10.0.0.0/8", "127.0.0.1"])

    @pytest.mark.parametrize(
        ("peer", "header", "expected"),
        [
            ("127.0.0.1", "", "127.0.0.1"),
            ("192.0.2.1", "10.9.9.9", "192.0.2.1"),  # not a proxy: the header is ignored
            ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
            ("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.1.1.1", "198.51.100.7"),
            ("127.0.0.1", "10.2.2.2, 10.1.1.1", "10.2.2.2"),  # all proxies: the first
            ("127.0.0.1", "not-an-address", "not-an-address"),
        ],
    )
    def test_the_right_most_address_that_is_not_a_proxy(self, peer, header, expected):
        assert forwarded_client(peer, header, self.PROXIES) == expected

    def test_nothing_is_believed_by_default(self, settings):
        assert settings.forwarded_allow_ips == []
        assert forwarded_client("127.0.0.1", "10.9.9.9", networks([])) == "127.0.0.1"
