"""Per-endpoint limits on calls in flight and calls per second: in-process, or shared via Redis.

Calls per second use GCRA (a leaky bucket that lets `max_calls_per_second` calls through at
once, then one every 1/rate s); a call reserves its moment and sleeps until then.
"""

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis

# A held concurrency slot is leased for this long and renewed while its call runs, so a
# worker killed mid-call frees its slots within a lease.
LEASE_S = 5.0
SLOT_POLL_S = 0.02


@dataclass
class _LocalEndpoint:
    max_concurrency: int
    semaphore: asyncio.Semaphore
    theoretical_arrival: float = 0.0


@dataclass
class LocalLimiter:
    """Limits for the calls of this process (the in-process broker runs them all)."""

    _endpoints: dict[str, _LocalEndpoint] = field(default_factory=dict)

    def _endpoint(self, key: str, max_concurrency: int) -> _LocalEndpoint:
        endpoint = self._endpoints.get(key)
        if endpoint is None or endpoint.max_concurrency != max_concurrency:
            # A changed limit starts a new semaphore; calls under the old one finish under it.
            endpoint = _LocalEndpoint(max_concurrency, asyncio.Semaphore(max_concurrency))
            self._endpoints[key] = endpoint
        return endpoint

    @asynccontextmanager
    async def slot(
        self, key: str, max_concurrency: int, max_calls_per_second: int
    ) -> AsyncIterator[None]:
        endpoint = self._endpoint(key, max_concurrency)
        async with endpoint.semaphore:
            now = time.monotonic()
            interval = 1.0 / max_calls_per_second
            arrival = max(endpoint.theoretical_arrival, now)
            endpoint.theoretical_arrival = arrival + interval
            wait = arrival - now - (max_calls_per_second - 1) * interval
            if wait > 0:
                await asyncio.sleep(wait)
            yield


# KEYS[1] the endpoint's slot set; ARGV lease ms, max concurrency, holder id. 1 if acquired.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
  return 1
end
return 0
"""
# KEYS[1] the slot set; ARGV lease ms, holder id. Extends the holder's lease if it still holds.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
  return 1
end
return 0
"""
# KEYS[1] the endpoint's GCRA key; ARGV interval µs, burst. Returns µs to wait before calling.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - (tonumber(ARGV[2]) - 1) * interval
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
if wait < 0 then return 0 end
return wait
"""


class RedisLimiter:
    """Limits shared by every worker process through one Redis; the scripts run atomically."""

    def __init__(
        self, redis: Redis, *, prefix: str = "sparring:limits", lease_s: float = LEASE_S
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = int(lease_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._reserve = redis.register_script(_RESERVE)

    async def aclose(self) -> None:
        await self._redis.aclose()

    @asynccontextmanager
    async def slot(
        self, key: str, max_concurrency: int, max_calls_per_second: int
    ) -> AsyncIterator[None]:
        slots_key = f"{self._prefix}:slots:{key}"
        holder = uuid.uuid4().hex
        lease_ms = self._lease_ms
        acquire_args: list[int | str] = [lease_ms, max_concurrency, holder]
        # Polled: another process frees the slot, so there is no local event to await.
        while not await self._acquire(keys=[slots_key], args=acquire_args):  # noqa: ASYNC110
            # Jitter, so that waiting workers do not all ask at the same moment.
            await asyncio.sleep(SLOT_POLL_S * (0.5 + random.random()))
        renewer = asyncio.create_task(self._keep(slots_key, holder, lease_ms))
        try:
            wait_us = await self._reserve(
                keys=[f"{self._prefix}:rate:{key}"],
                args=[int(1_000_000 / max_calls_per_second), max_calls_per_second],
            )
            if wait_us:
                await asyncio.sleep(int(wait_us) / 1_000_000)
            yield
        finally:
            renewer.cancel()
            await self._redis.zrem(slots_key, holder)

    async def _keep(self, slots_key: str, holder: str, lease_ms: int) -> None:
        while True:
            await asyncio.sleep(lease_ms / 3000)
            await self._renew(keys=[slots_key], args=[lease_ms, holder])
