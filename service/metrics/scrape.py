"""What one scrape reads: this process's series, and the Redis queue where there is one."""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from service.metrics.access import Network, allowed_networks, may_read_metrics
from service.metrics.queue import QueueCollector, queue_collector
from service.metrics.series import REGISTRY
from service.settings import Settings


class _ProcessSeries(Collector):
    """The process-wide registry as one collector of a scrape's own registry."""

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class Scrape:
    """A server's or worker's metrics page: who may read it and what it holds.

    The queue collector belongs to the app or worker that made this (and closes with it);
    the process's series are shared by every scrape of the process.
    """

    def __init__(self, settings: Settings) -> None:
        self.allowed: list[Network] = allowed_networks(settings.metrics_allow)
        self.queue: QueueCollector | None = queue_collector(settings)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ProcessSeries())
        if self.queue is not None:
            self.registry.register(self.queue)

    def allows(self, client: str | None) -> bool:
        return may_read_metrics(client, self.allowed)

    def render(self) -> bytes:
        """The text format; reads Redis, so call it off the event loop."""
        return generate_latest(self.registry)

    def close(self) -> None:
        if self.queue is not None:
            self.queue.close()
