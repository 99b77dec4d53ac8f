"""The rate limit shared through Redis, while Redis is down: each process keeps counting in its
own memory (requests keep working, the limit still applies), and uses Redis again once it
answers."""

import asyncio

import httpx
import redis.asyncio as redis
from limits.aio.storage import MemoryStorage

from models import Role
from service.api.accounts import Principal
from service.api.errors import RateLimited
from service.http import create_app
from service.http.limits import KEY_PREFIX, RequestRateLimit, rate_limit_storage
from service.settings import Settings
from tests.factories import create_key
from tests.support.live_server import live_server
from tests.support.redis_server import running_redis_server

PER_MINUTE = 3


def sharing(settings: Settings, url: str) -> Settings:
    return Settings(**{
        **settings.model_dump(), "redis_url": url, "rate_limit_per_minute": PER_MINUTE,
    })


async def test_with_redis_down_requests_work_and_the_limit_still_holds(required_settings, db):
    key = await create_key("alice", Role.OWNER, workspace="wa")
    with running_redis_server() as server:
        app = create_app(sharing(required_settings, server.url), database=db)
        headers = {"authorization": f"Bearer {key}"}
        async with (
            live_server(app) as url,
            httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client,
        ):
            assert (await client.get("/api/v1/sessions")).status_code == 200
            await asyncio.to_thread(server.stop)
            during = [await client.get("/api/v1/sessions") for _ in range(PER_MINUTE + 1)]
    # Counted afresh in this process: the whole allowance, then 429 (never a 500 or 503).
    assert [response.status_code for response in during] == [200] * PER_MINUTE + [429]
    assert 1 <= int(during[-1].headers["retry-after"]) <= 60


def principal(key_id: str) -> Principal:
    return Principal(user="alice", workspace="wa", role=Role.OWNER, key_id=key_id)


async def count(limit: RequestRateLimit, key_id: str) -> int:
    """Requests of `key_id` let through until one is refused."""
    passed = 0

    async def handler(scope, receive, send) -> None:
        nonlocal passed
        passed += 1

    scope = {"type": "http", "auth": principal(key_id), "client": ("127.0.0.1", 1)}
    for _ in range(PER_MINUTE + 1):
        try:
            await limit.handle(scope, None, None, handler)  # type: ignore[arg-type]
        except RateLimited:
            break
    return passed


async def test_once_redis_answers_again_the_count_is_shared_there_again(required_settings):
    with running_redis_server() as server:
        storage, release = rate_limit_storage(sharing(required_settings, server.url))
        limit = RequestRateLimit(storage, PER_MINUTE, store_retry_s=0.0)
        try:
            await asyncio.to_thread(server.stop)
            assert await count(limit, "k1") == PER_MINUTE
            await asyncio.to_thread(server.start)
            assert await count(limit, "k2") == PER_MINUTE
            async with redis.from_url(server.url) as client:
                stored = [key async for key in client.scan_iter(f"{KEY_PREFIX}*")]
        finally:
            await release()
    # k1 was counted in memory alone; k2 in Redis, where another process sees it.
    assert any(b"k2" in key for key in stored)
    assert not any(b"k1" in key for key in stored)


async def test_a_store_in_memory_has_nothing_to_fall_back_from():
    limit = RequestRateLimit(MemoryStorage(), PER_MINUTE)
    assert await count(limit, "k3") == PER_MINUTE
