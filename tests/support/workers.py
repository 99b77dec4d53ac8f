"""`sparring worker` processes for the Redis tests, and waiting on what they do."""

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from service.workers.broker import CONSUMER_GROUP
from tests.support.processes import ROOT, sparring_env, stop_processes

STARTUP_TIMEOUT_S = 60.0
# What a worker logs once it reads the stream.
LISTENING = b"Worker running prompt tasks"


@contextmanager
def sparring_workers(
    count: int, settings: dict[str, str], log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes of `sparring worker`, yielded once each listens; stopped afterwards."""
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for number in range(count):
            logs.append(log_dir / f"worker-{number}.log")
            log = logs[-1].open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "worker"],
                    cwd=ROOT,
                    env=sparring_env(settings),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
            log.close()
        for process, log_path in zip(processes, logs, strict=True):
            _wait_until_listening(process, log_path)
        yield processes
    finally:
        stop_processes(processes)


def _wait_until_listening(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while LISTENING not in log_path.read_bytes():
        if process.poll() is not None:
            raise RuntimeError(f"sparring worker exited with {process.returncode}; see {log_path}.")
        if time.monotonic() > deadline:
            raise RuntimeError(f"sparring worker did not start listening; see {log_path}.")
        time.sleep(0.05)


async def until(
    condition: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str, poll_s: float = 0.05
) -> None:
    """Wait for a condition another process makes true (nothing to await across processes)."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s:.0f} s waiting for {what}.")
        await asyncio.sleep(poll_s)


async def queue_streams(redis: Redis, queue: str) -> list[bytes]:
    """The queue's streams: its own, and one per session with work (`ReclaimingStreamBroker`)."""
    return [queue.encode(), *sorted(await redis.smembers(f"{queue}:streams"))]


async def pending_of_process(redis_url: str, queue: str, pid: int) -> int:
    """Tasks read but not yet acknowledged by the worker process `pid` (all workers: pid 0)."""
    redis = Redis.from_url(redis_url)
    marker = f"-{pid}-".encode()
    pending = 0
    try:
        for stream in await queue_streams(redis, queue):
            if not await redis.exists(stream):
                continue
            consumers = await redis.xinfo_consumers(stream, CONSUMER_GROUP)
            pending += sum(
                consumer["pending"] for consumer in consumers
                if not pid or marker in consumer["name"]
            )
    finally:
        await redis.aclose()
    return pending


async def consumers_reading(redis_url: str, queue: str) -> int:
    """How many workers have taken tasks of the queue (each joins its streams' groups)."""
    redis = Redis.from_url(redis_url)
    names: set[bytes] = set()
    try:
        for stream in await queue_streams(redis, queue):
            if await redis.exists(stream):
                consumers = await redis.xinfo_consumers(stream, CONSUMER_GROUP)
                names.update(consumer["name"] for consumer in consumers)
    finally:
        await redis.aclose()
    return len(names)
