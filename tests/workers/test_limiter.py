"""Per-endpoint limits: in-process, and shared through a real Redis by separate limiters."""

import asyncio
import time
import uuid

from redis.asyncio import Redis

from service.workers.limiter import LocalLimiter, RedisLimiter


class Meter:
    """Counts calls in flight, as an endpoint would see them."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.starts: list[float] = []

    async def call(self, limiter, key: str, concurrency: int, rate: int, hold_s: float) -> None:
        async with limiter.slot(key, concurrency, rate):
            self.starts.append(time.monotonic())
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(hold_s)
            self.in_flight -= 1


def paced(starts: list[float], rate: int, slack_s: float = 0.01) -> bool:
    """After a burst of `rate` calls, call k starts no sooner than (k - rate + 1) / rate s in.

    `slack_s` allows for the clock the limiter counts by not being the caller's: Redis's
    windows run on its own `TIME`, a round trip away, and round trips vary on a busy machine.
    """
    ordered = sorted(starts)
    return all(
        ordered[k] - ordered[0] >= (k - rate + 1) / rate - slack_s
        for k in range(rate, len(ordered))
    )


class TestLocalLimiter:
    async def test_concurrency_per_endpoint(self):
        limiter, narrow, wide = LocalLimiter(), Meter(), Meter()
        await asyncio.gather(
            *[narrow.call(limiter, "ws|narrow", 2, 1000, 0.02) for _ in range(10)],
            *[wide.call(limiter, "ws|wide", 5, 1000, 0.02) for _ in range(10)],
        )
        assert (narrow.most, wide.most) == (2, 5)

    async def test_calls_per_second_after_a_burst_of_that_many(self):
        limiter, meter = LocalLimiter(), Meter()
        await asyncio.gather(*[meter.call(limiter, "ws|paced", 50, 10, 0) for _ in range(13)])
        assert paced(meter.starts, 10), meter.starts
        assert max(meter.starts) - min(meter.starts) >= 0.29

    async def test_a_changed_limit_applies_to_new_calls(self):
        limiter, meter = LocalLimiter(), Meter()
        await asyncio.gather(*[meter.call(limiter, "ws|e", 1, 1000, 0.01) for _ in range(3)])
        assert meter.most == 1
        meter = Meter()
        await asyncio.gather(*[meter.call(limiter, "ws|e", 3, 1000, 0.02) for _ in range(6)])
        assert meter.most == 3


class TestRedisLimiter:
    async def test_limits_hold_across_limiters_as_across_processes(self, redis_url):
        prefix = f"test:{uuid.uuid4().hex}"
        limiters = [RedisLimiter(Redis.from_url(redis_url), prefix=prefix) for _ in range(3)]
        meter = Meter()
        try:
            await asyncio.gather(
                *[meter.call(limiters[n % 3], "ws|shared", 2, 1000, 0.03) for n in range(12)]
            )
        finally:
            for limiter in limiters:
                await limiter.aclose()
        assert meter.most == 2

    async def test_calls_per_second_shared(self, redis_url):
        prefix = f"test:{uuid.uuid4().hex}"
        limiters = [RedisLimiter(Redis.from_url(redis_url), prefix=prefix) for _ in range(2)]
        meter = Meter()
        try:
            await asyncio.gather(
                *[meter.call(limiters[n % 2], "ws|paced", 50, 10, 0) for n in range(13)]
            )
        finally:
            for limiter in limiters:
                await limiter.aclose()
        # Half an interval of slack: still far from the burst of 13 an unpaced limiter lets by.
        assert paced(meter.starts, 10, slack_s=0.05), meter.starts
        assert max(meter.starts) - min(meter.starts) >= 0.25

    async def test_a_dead_holders_slot_frees_after_its_lease(self, redis_url):
        prefix = f"test:{uuid.uuid4().hex}"
        dead = RedisLimiter(Redis.from_url(redis_url), prefix=prefix, lease_s=0.3)
        alive = RedisLimiter(Redis.from_url(redis_url), prefix=prefix, lease_s=0.3)
        try:
            slot = dead.slot("ws|e", 1, 1000)
            await slot.__aenter__()
            # The holder dies: its lease is no longer renewed, and nothing releases it.
            for task in asyncio.all_tasks():
                if task.get_coro().__qualname__.startswith("RedisLimiter._keep"):
                    task.cancel()
            started = time.monotonic()
            async with alive.slot("ws|e", 1, 1000):
                waited = time.monotonic() - started
            assert 0.15 <= waited < 2.0
        finally:
            await dead.aclose()
            await alive.aclose()

    async def test_a_live_holder_keeps_its_slot_past_the_lease(self, redis_url):
        prefix = f"test:{uuid.uuid4().hex}"
        limiters = [
            RedisLimiter(Redis.from_url(redis_url), prefix=prefix, lease_s=0.2) for _ in range(2)
        ]
        meter = Meter()
        try:
            await asyncio.gather(
                *[meter.call(limiters[n], "ws|long", 1, 1000, 0.5) for n in range(2)]
            )
        finally:
            for limiter in limiters:
                await limiter.aclose()
        assert meter.most == 1
