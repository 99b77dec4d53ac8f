"""Depth and age of the Redis task queue, read from Redis at each scrape (a custom collector).

The queue is the streams `ReclaimingStreamBroker` writes: `{queue}` and one per session with
work waiting, listed in the set `{queue}:streams`. An entry is deleted once acknowledged, so a
stream's length is what waits or runs; the consumer group's pending count is what a worker
holds. Entry ids start with the millisecond they were added, so the smallest is the oldest.
"""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError

from service.settings import Settings
from service.workers.broker import CONSUMER_GROUP

# A scrape must answer even when Redis does not: it then says so instead of blocking.
SCRAPE_TIMEOUT_S = 2.0


class QueueCollector(Collector):
    """Reads the queue's streams with a synchronous client (collectors run synchronously, in
    the scraping thread)."""

    def __init__(self, redis_url: str, queue: str, group: str) -> None:
        # Connects on first use, so making it opens nothing.
        self.redis = Redis.from_url(
            redis_url, socket_timeout=SCRAPE_TIMEOUT_S, socket_connect_timeout=SCRAPE_TIMEOUT_S
        )
        self.queue = queue
        self.group = group

    def describe(self) -> list[GaugeMetricFamily]:
        # Registered without reading Redis.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        readable = GaugeMetricFamily(
            "sparring_task_queue_readable", "1 if the Redis task queue answered this scrape."
        )
        try:
            depth, pending, oldest_age = self._read()
        except (RedisError, OSError):
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        yield GaugeMetricFamily(
            "sparring_task_queue_depth",
            "Prompt and run tasks in the Redis queue, waiting or running.",
            value=depth,
        )
        yield GaugeMetricFamily(
            "sparring_task_queue_pending",
            "Tasks a worker has read and not acknowledged yet (running, or about to).",
            value=pending,
        )
        yield GaugeMetricFamily(
            "sparring_task_queue_oldest_age_seconds",
            "Age of the oldest task in the queue (0 when it is empty).",
            value=oldest_age,
        )

    def _read(self) -> tuple[int, int, float]:
        listed = self.redis.smembers(f"{self.queue}:streams")
        names = [self.queue, *sorted(name.decode() for name in listed)]  # type: ignore[union-attr]
        pipeline = self.redis.pipeline(transaction=False)
        for name in names:
            pipeline.xlen(name)
            pipeline.xrange(name, count=1)
            pipeline.xpending(name, self.group)
        pipeline.time()
        *answers, (seconds, micros) = pipeline.execute(raise_on_error=False)
        depth = pending = 0
        oldest_ms: int | None = None
        for index in range(len(names)):
            length, first, holding = answers[3 * index: 3 * index + 3]
            # A stream that went between listing and reading answers an error: it is empty.
            if isinstance(length, int):
                depth += length
            if isinstance(holding, dict):
                pending += int(holding.get("pending", 0))
            if isinstance(first, list) and first:
                added_ms = int(first[0][0].decode().partition("-")[0])
                oldest_ms = added_ms if oldest_ms is None else min(oldest_ms, added_ms)
        now_ms = seconds * 1000 + micros // 1000
        return depth, pending, 0.0 if oldest_ms is None else max(0.0, (now_ms - oldest_ms) / 1000)

    def close(self) -> None:
        self.redis.close()


def queue_collector(settings: Settings) -> QueueCollector | None:
    """The collector of the Redis queue `settings` name; None without Redis (the in-process
    queue is this process's own, and its tasks are counted as they run)."""
    if settings.redis_url is None:
        return None
    return QueueCollector(
        settings.redis_url.get_secret_value(), settings.task_queue, CONSUMER_GROUP
    )
