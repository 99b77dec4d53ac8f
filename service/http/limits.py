"""Per-key request rate limit: a moving window in memory, or in Redis when processes share it."""

import math
import time
from collections.abc import Awaitable, Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import ConnectionPool

from service.api.accounts import Principal
from service.api.errors import RateLimited, Unavailable
from service.settings import Settings

KEY_PREFIX = "sparring-rate-limit"


class RequestRateLimit(ASGIMiddleware):
    """Counts each request against its API key (or, without one, its user and client address).

    Runs after authentication; public routes carry no principal and are not counted.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, storage: Storage, per_minute: int) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.item = RateLimitItemPerMinute(per_minute)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("auth")
        if isinstance(principal, Principal):
            await self._count(_identity(principal, scope))
        await next_app(scope, receive, send)

    async def _count(self, identity: str) -> None:
        try:
            if await self.limiter.hit(self.item, identity):
                return
            stats = await self.limiter.get_window_stats(self.item, identity)
        except StorageError as error:
            raise Unavailable("The rate limit store does not answer.") from error
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"More than {self.item.amount} requests in a minute; retry in {retry_after} s.",
            retry_after=retry_after,
        )


def _identity(principal: Principal, scope: Scope) -> str:
    if principal.key_id:
        return f"key:{principal.key_id}"
    # Key-less requests (local mode, trusted clients) all act as one user: counted per client
    # address, so one client cannot use up the others' allowance.
    client = scope.get("client")
    return f"user:{principal.user}@{client[0] if client else ''}"


def rate_limit_storage(settings: Settings) -> tuple[Storage, Callable[[], Awaitable[None]]]:
    """The store of counts, and how to release it when the app stops.

    The Redis pool connects on first use, so building this opens no connection.
    """
    if settings.redis_url is None:
        memory = MemoryStorage()

        async def forget() -> None:
            await memory.reset()

        return memory, forget
    url = settings.redis_url.get_secret_value()
    pool = ConnectionPool.from_url(url)
    storage = RedisStorage(
        f"async+{url}",
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        wrap_exceptions=True,
        # limits types its storage options as scalars; redis-py takes the pool as it is.
        connection_pool=pool,  # type: ignore[arg-type]
    )

    async def disconnect() -> None:
        await pool.aclose()

    return storage, disconnect
