"""Reading a metrics page as Prometheus does, with prometheus_client's own parser."""

from collections.abc import Iterator

import httpx
from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, path: str = "/metrics") -> Samples:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a series grew between two scrapes (counters of this process never reset)."""
    return value(after, name, **labels) - value(before, name, **labels)


def label_values(samples: Samples) -> Iterator[str]:
    for _, labels in samples:
        for _, label_value in labels:
            yield label_value
