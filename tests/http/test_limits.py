"""Request limits: the per-key rate limit (in memory, and shared through Redis) and body size."""

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pymongo import MongoClient

from models import Role, Runner, Session
from service.http import create_app
from service.settings import Settings
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_key
from tests.support.http_client import asgi_client
from tests.support.processes import run_sparring, sparring_servers

MIB = 1024 * 1024


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def limited(settings: Settings, per_minute: int) -> Settings:
    return Settings(**{**settings.model_dump(), "rate_limit_per_minute": per_minute})


def assert_too_many(response: httpx.Response, per_minute: int) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["detail"].startswith(f"More than {per_minute} requests in a minute")


class TestRateLimit:
    async def test_the_601st_request_in_a_minute_is_429_at_the_default(self, required_settings, db):
        assert required_settings.rate_limit_per_minute == 600
        key = await create_key("alice", Role.VIEWER, workspace="team")
        app = create_app(required_settings, database=db)
        async with asgi_client(app, headers=bearer(key)) as client:
            for number in range(600):
                response = await client.get("/api/v1/sessions/name")
                assert response.status_code == 200, (number, response.text)
            assert_too_many(await client.get("/api/v1/sessions/name"), 600)

    async def test_each_key_has_its_own_allowance(self, required_settings, db):
        first = await create_key("alice", Role.EDITOR, workspace="team")
        second = await create_key("bob", Role.EDITOR, workspace="team")
        app = create_app(limited(required_settings, 3), database=db)
        async with asgi_client(app) as client:
            for _ in range(3):
                response = await client.get("/api/v1/sessions", headers=bearer(first))
                assert response.status_code == 200
            refused = await client.post(
                "/api/v1/sessions", json={"name": "Too Many", "endpoints": ["echo-a"]},
                headers=bearer(first),
            )
            assert_too_many(refused, 3)
            assert (await client.get("/api/v1/sessions", headers=bearer(second))).status_code == 200
            # Public routes are not counted.
            assert (await client.get("/health")).status_code == 200
        assert await Runner.count() == 0

    async def test_key_less_local_requests_are_limited_too(self, settings, db):
        app = create_app(limited(settings, 2), database=db)
        async with asgi_client(app) as client:
            statuses = [(await client.get("/api/v1/sessions")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]

    async def test_key_less_clients_each_have_their_own_allowance(self, settings, db):
        app = create_app(limited(settings, 2), database=db)
        async with asgi_client(app, client_address="127.0.0.1") as first, asgi_client(
            app, client_address="127.0.0.2"
        ) as second:
            statuses = [(await first.get("/api/v1/sessions")).status_code for _ in range(3)]
            # One local client using up its allowance does not lock the other out.
            assert (await second.get("/api/v1/sessions")).status_code == 200
        assert statuses == [200, 200, 429]

    def test_the_limit_must_be_positive(self, settings):
        with pytest.raises(ValueError, match="rate_limit_per_minute"):
            limited(settings, 0)


class TestBodyLimit:
    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    async def test_a_2_mib_body_is_413_and_stores_nothing(self, required_settings, db, chunked):
        assert required_settings.max_body_bytes == MIB
        await create_endpoint("echo-a", workspace="team")
        key = await create_key("alice", Role.EDITOR, workspace="team")
        body = (
            b'{"name": "Big Run", "endpoints": ["echo-a"], "description": "'
            + b"x" * (2 * MIB)
            + b'"}'
        )

        async def pieces():
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]

        app = create_app(required_settings, database=db)
        async with asgi_client(app, headers=bearer(key)) as client:
            response = await client.post(
                "/api/v1/sessions",
                content=pieces() if chunked else body,
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 413, response.text
            assert "detail" in response.json()
            # Just under the limit is fine, so the limit is the setting and not something else.
            small = body.replace(b"x" * (2 * MIB), b"x" * (MIB - 200))
            accepted = await client.post(
                "/api/v1/sessions", content=small, headers={"Content-Type": "application/json"}
            )
            assert accepted.status_code == 422, accepted.text  # description is too long
        assert await Runner.count() == 0 and await Session.count() == 0


@pytest.fixture
def shared_database(server_uri: str, tmp_path) -> Iterator[dict[str, str]]:
    """Settings of a deployment: one database on the real server, API keys required."""
    name = f"sparring_limits_{uuid.uuid4().hex[:8]}"
    yield {
        "mongodb_uri": server_uri,
        "database": name,
        "secret_key": TEST_SECRET_KEY,
        "data_dir": str(tmp_path),
        "auth": "required",
        "log_level": "WARNING",
    }
    client: MongoClient = MongoClient(server_uri)
    client.drop_database(name)
    client.close()


async def test_two_server_processes_share_the_limit_through_redis(
    shared_database, redis_url, tmp_path
):
    settings = {**shared_database, "redis_url": redis_url, "rate_limit_per_minute": "10"}
    for args in (
        ("create-user", "alice"),
        ("create-workspace", "team", "--owner", "alice"),
        ("create-key", "alice"),
    ):
        result = run_sparring("admin", *args, settings=settings)
        assert result.returncode == 0, result.stderr
    key = result.stdout.strip()

    with sparring_servers(2, settings, tmp_path) as urls:
        async with httpx.AsyncClient(headers=bearer(key), timeout=30) as client:
            # Five requests to each process, at the same time: ten in all, the whole allowance.
            responses = await asyncio.gather(
                *(client.get(f"{urls[number % 2]}/api/v1/sessions") for number in range(10))
            )
            assert [response.status_code for response in responses] == [200] * 10
            for url in urls:
                assert_too_many(await client.get(f"{url}/api/v1/sessions"), 10)
