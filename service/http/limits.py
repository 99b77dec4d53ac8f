"""Per-key request rate limit: a moving window in memory, or in Redis when processes share it.

While Redis does not answer, each process counts in its own memory instead (and asks Redis
again every `STORE_RETRY_S`): the limit only guards against a client asking too often, so an
outage of the store it is kept in should not refuse everyone. A client then gets at most the
allowance once per process, and every request still works; the database, which holds the
data, is what answers 503 when it is away.
"""

import logging
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
from service.api.errors import RateLimited
from service.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "sparring-rate-limit"
# How long to count in memory after the shared store failed before asking it again.
STORE_RETRY_S = 5.0


class RequestRateLimit(ASGIMiddleware):
    """Counts each request against its API key (or, without one, its user and client address).

    Runs after authentication; public routes carry no principal and are not counted.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(
        self, storage: Storage, per_minute: int, *, store_retry_s: float = STORE_RETRY_S
    ) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.item = RateLimitItemPerMinute(per_minute)
        # Counts kept here while the shared store does not answer.
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.store_retry_s = store_retry_s
        self._store_down_until: float | None = None

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("auth")
        if isinstance(principal, Principal):
            await self._count(_identity(principal, scope))
        await next_app(scope, receive, send)

    async def _count(self, identity: str) -> None:
        limiter = self._limiter()
        try:
            if await limiter.hit(self.item, identity):
                return
            stats = await limiter.get_window_stats(self.item, identity)
        except StorageError as error:
            if limiter is self.local:
                raise
            self._store_failed(error)
            if await self.local.hit(self.item, identity):
                return
            stats = await self.local.get_window_stats(self.item, identity)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"More than {self.item.amount} requests in a minute; retry in {retry_after} s.",
            retry_after=retry_after,
        )


    def _limiter(self) -> MovingWindowRateLimiter:
        down_until = self._store_down_until
        if down_until is None:
            return self.limiter
        if time.monotonic() < down_until:
            return self.local
        # Time to ask the shared store again; it stays in use from now on if it answers.
        self._store_down_until = None
        log.info("Rate limit: asking the shared store again.")
        return self.limiter

    def _store_failed(self, error: StorageError) -> None:
        if self._store_down_until is None:
            # Once per failed attempt, every STORE_RETRY_S at most: not once per request.
            log.warning(
                "Rate limit: the shared store does not answer (%s); counting in this process "
                "for %.0f s.",
                type(error.storage_error).__name__, self.store_retry_s,
            )
        self._store_down_until = time.monotonic() + self.store_retry_s


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
