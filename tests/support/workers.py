"""`sparring worker` processes for the Redis tests, and waiting on what they do."""

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_TASK
from service.api import api_get_all_chats_from_session
from service.database import Database
from service.workers.broker import CONSUMER_GROUP
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_endpoint
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
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
            processes.append(start_worker(settings, logs[-1]))
        for process, log_path in zip(processes, logs, strict=True):
            _wait_until_listening(process, log_path)
        yield processes
    finally:
        stop_processes(processes)


def start_worker(settings: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """One `sparring worker`, its output in `log_path`; see `wait_until_listening`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"],
            cwd=ROOT,
            env=sparring_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_until_listening(process: subprocess.Popen[bytes], log_path: Path) -> None:
    _wait_until_listening(process, log_path)


async def queue_leftovers(redis_url: str, queue: str) -> dict[str, int]:
    """What the queue still holds: entries in its streams, entries read and not acknowledged,
    and task ids noted as queued (`ReclaimingStreamBroker`); all 0 once every task ran."""
    redis = Redis.from_url(redis_url)
    try:
        streams = [stream for stream in await queue_streams(redis, queue)
                   if await redis.exists(stream)]
        entries = sum([await redis.xlen(stream) for stream in streams])
        pending = 0
        for stream in streams:
            pending += (await redis.xpending(stream, CONSUMER_GROUP))["pending"]
        tasks = await redis.scard(f"{queue}:tasks")
    finally:
        await redis.aclose()
    return {"entries": entries, "pending": pending, "queued_tasks": tasks}


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


# What the outage and shutdown tests share: their settings, an endpoint, and what must hold.


def outage_settings(
    db: Database, server_uri: str, redis_url: str, queue_name: str, tmp_path: Path
) -> dict[str, str]:
    return {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "redis_url": redis_url,
        "task_queue": queue_name,
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        # A task whose entry is gone is queued again by the sweep after this (and, with its
        # entry kept, claimed from a dead worker after the idle timeout: neither here).
        "task_requeue_after_s": "2",
        "worker_idle_timeout_s": "60",
        "worker_max_tasks": "8",
        "shutdown_grace_s": "5",
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
    }


async def slow_endpoint(fake: FakeOpenAI, name: str, latency_s: float) -> str:
    fake.behaviours[name] = Behaviour(latency_s=latency_s)
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
        params={"timeout": 10, "max_attempts": 1}, max_concurrency=50,
    )


async def count_tasks(*statuses: TaskStatus) -> int:
    return await PromptTask.get_pymongo_collection().count_documents(
        {"status": {"$in": [status.value for status in statuses]}}
    )


async def batches_done(expected: int) -> bool:
    done = await PromptBatch.get_pymongo_collection().count_documents(
        {"status": BatchStatus.DONE.value}
    )
    return done == expected


async def assert_every_record_once(runner_id: str, endpoint: str, prompts: list[str]) -> None:
    records = (await api_get_all_chats_from_session(runner_id))[endpoint]
    assert sorted(record["chat_record_id"] for record in records) == list(
        range(1, len(prompts) + 1)
    )
    assert sorted(record["prompt"] for record in records) == sorted(prompts)
    assert all(record["predicted_result"] == f"{endpoint} says: {record['prompt']}"
               for record in records)


async def assert_nothing_left(redis_url: str, queue_name: str) -> None:
    assert await count_tasks(*UNFINISHED_TASK) == 0
    assert await queue_leftovers(redis_url, queue_name) == {
        "entries": 0, "pending": 0, "queued_tasks": 0,
    }
