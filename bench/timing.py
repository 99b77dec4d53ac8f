"""Timing: loops bounded in count and time, and the summary every figure reports.

Standard library only: Moonshot's child process imports it from its own virtualenv.
"""

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """Stop after `count` samples or once `seconds` have passed, whichever comes first."""

    count: int
    seconds: float


def percentile(samples: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks of the sorted samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples_s: list[float]) -> dict[str, Any]:
    """Median, p90 and p99 of durations given in seconds, reported in milliseconds."""
    return {
        "count": len(samples_s),
        "median_ms": percentile(samples_s, 0.5) * 1000,
        "p90_ms": percentile(samples_s, 0.9) * 1000,
        "p99_ms": percentile(samples_s, 0.99) * 1000,
        "min_ms": min(samples_s) * 1000 if samples_s else math.nan,
    }


def measure(call: Callable[[int], Any], bound: Bound) -> list[float]:
    """Time `call(i)` for i = 0, 1, ... within `bound`; always at least one sample."""
    samples: list[float] = []
    deadline = time.perf_counter() + bound.seconds
    while not samples or (len(samples) < bound.count and time.perf_counter() < deadline):
        started = time.perf_counter()
        call(len(samples))
        samples.append(time.perf_counter() - started)
    return samples


async def measure_async(call: Callable[[int], Awaitable[Any]], bound: Bound) -> list[float]:
    """`measure` for coroutines."""
    samples: list[float] = []
    deadline = time.perf_counter() + bound.seconds
    while not samples or (len(samples) < bound.count and time.perf_counter() < deadline):
        started = time.perf_counter()
        await call(len(samples))
        samples.append(time.perf_counter() - started)
    return samples
