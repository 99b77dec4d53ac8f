"""What the domain records: endpoint calls by outcome, cancelled calls left out; who may read."""

import asyncio
import uuid

import pytest
from prometheus_client import generate_latest

from service.connectors import ConnectorError
from service.metrics.access import allowed_networks, may_read_metrics
from service.metrics.recording import timed_endpoint_call
from service.metrics.series import REGISTRY
from tests.metrics.scraping import increase, parse

CALLS = "sparring_endpoint_calls_total"


def _page():
    return parse(generate_latest(REGISTRY).decode())


async def _answer() -> str:
    return "fine"


async def _fail() -> str:
    raise ConnectorError("the endpoint at http://user:pass@host said no")


async def test_calls_are_counted_by_outcome_never_by_message():
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    before = _page()
    assert await timed_endpoint_call(endpoint, _answer()) == "fine"
    with pytest.raises(ConnectorError):
        await timed_endpoint_call(endpoint, _fail())
    after = _page()
    assert increase(before, after, CALLS, endpoint=endpoint, outcome="answered") == 1
    assert increase(before, after, CALLS, endpoint=endpoint, outcome="ConnectorError") == 1
    labels = [label for _, pairs in after for _, label in pairs]
    assert not [label for label in labels if "pass@" in label]


async def test_a_cancelled_call_is_not_counted():
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    started = asyncio.Event()

    async def hang() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    before = _page()
    call = asyncio.create_task(timed_endpoint_call(endpoint, hang()))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    after = _page()
    assert not [key for key in after if ("endpoint", endpoint) in key[1]]
    assert increase(before, after, CALLS, endpoint=endpoint, outcome="CancelledError") == 0


@pytest.mark.parametrize(
    ("client", "allowed"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.1", False), ("2001:db8::1", False), ("testclient", False), ("", False),
     (None, False)],
)
def test_only_loopback_reads_by_default(client, allowed):
    assert may_read_metrics(client, allowed_networks(["127.0.0.1/8", "::1"])) is allowed
