"""What the domain calls when something worth counting happens; no HTTP, no storage here."""

import time
from collections.abc import Awaitable
from enum import Enum

from service.metrics.series import (
    ANSWERED,
    ENDPOINT_CALL_SECONDS,
    ENDPOINT_CALLS,
    PROMPT_BATCHES,
    RUNS,
)


def batch_status_changed(status: Enum) -> None:
    PROMPT_BATCHES.labels(status=str(status.value)).inc()


def run_status_changed(status: Enum) -> None:
    RUNS.labels(status=str(status.value)).inc()


async def timed_endpoint_call(endpoint: str, call: Awaitable[str]) -> str:
    """Await `call` (one connector call to `endpoint`), counting it and its time by outcome.

    The outcome of a failure is its exception's class name: never its message, which may
    quote the endpoint's answer or address.
    """
    started = time.perf_counter()
    try:
        answer = await call
    except Exception as error:
        _endpoint_call(endpoint, type(error).__name__, started)
        raise
    # A cancelled call (its task was cancelled) is neither: it is not counted.
    _endpoint_call(endpoint, ANSWERED, started)
    return answer


def _endpoint_call(endpoint: str, outcome: str, started: float) -> None:
    ENDPOINT_CALLS.labels(endpoint=endpoint, outcome=outcome).inc()
    ENDPOINT_CALL_SECONDS.labels(endpoint=endpoint, outcome=outcome).observe(
        time.perf_counter() - started
    )
