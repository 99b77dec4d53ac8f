"""Queueing through Redis that may be down: each task queued once, the sweep, handing back."""

import asyncio
import logging
import time
import uuid

import pytest

from models import PromptTask, TaskStatus
from service.api.prompting import create_batch, stale_unfinished_tasks
from service.embedded import free_loopback_port
from service.settings import Settings
from service.workers.broker import ReclaimingStreamBroker
from service.workers.outages import OUTAGES
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_session
from tests.support.workers import queue_leftovers


@pytest.fixture
async def redis_queue(settings: Settings, redis_url: str, db):
    """A task queue on the test's Redis stream of its own; it only queues (no worker runs)."""
    queue = TaskQueue(Settings(**{
        **settings.model_dump(), "redis_url": redis_url,
        "task_queue": f"requeue-{uuid.uuid4().hex[:8]}",
    }))
    await queue.start()
    yield queue
    await queue.stop()


@pytest.fixture(autouse=True)
def no_outage_left():
    """Outages are per process: one a test noted is not carried into the next."""
    yield
    OUTAGES.succeeded()


async def stored_tasks(prompts: int, endpoints: int = 1) -> list[str]:
    ids = [await create_endpoint(f"Echo {uuid.uuid4().hex[:8]}") for _ in range(endpoints)]
    runner_id = await create_session(endpoints=ids)
    return [
        task_id for number in range(prompts)
        for task_id in (await create_batch(runner_id, f"P{number}"))[1]
    ]


async def tasks_in_sessions(sessions: int) -> list[str]:
    """One stored task in each of `sessions` sessions (each its own stream)."""
    return [task_id for _ in range(sessions) for task_id in await stored_tasks(1)]


def stream_broker(queue: TaskQueue) -> ReclaimingStreamBroker:
    assert isinstance(queue.broker, ReclaimingStreamBroker)
    return queue.broker


async def test_a_task_queued_twice_has_one_entry(redis_queue, redis_url):
    task_ids = await stored_tasks(2)
    await redis_queue.enqueue(task_ids)
    await redis_queue.enqueue(task_ids)
    await redis_queue.enqueue(task_ids[:1])
    broker = stream_broker(redis_queue)
    assert await queue_leftovers(redis_url, broker.queue_name) == {
        "entries": 2, "pending": 0, "queued_tasks": 2,
    }
    assert await broker.queued_tasks([*task_ids, "nope"]) == set(task_ids)


async def test_the_sweep_queues_old_unqueued_tasks_once(redis_queue, redis_url):
    # Stored, then never queued (Redis was down when they were sent).
    old = await stored_tasks(3)
    queued_one = await stored_tasks(1)
    await redis_queue.enqueue(queued_one)
    assert await redis_queue.requeue_stale(older_than_s=60) == 0, "too young to sweep"
    assert await redis_queue.requeue_stale(older_than_s=0) == 3
    # The one already queued is in Redis: not added again; nor is anything a second time.
    assert await redis_queue.requeue_stale(older_than_s=0) == 0
    broker = stream_broker(redis_queue)
    assert await broker.queued_tasks([*old, *queued_one]) == {*old, *queued_one}
    assert (await queue_leftovers(redis_url, broker.queue_name))["entries"] == 4


async def test_finished_and_cancelled_tasks_are_not_swept(redis_queue):
    done, cancelled, waiting = await stored_tasks(3)
    collection = PromptTask.get_pymongo_collection()
    await collection.update_one({"_id": done}, {"$set": {"status": TaskStatus.DONE.value}})
    await collection.update_one(
        {"_id": cancelled}, {"$set": {"status": TaskStatus.CANCELLED.value}}
    )
    assert set(await stale_unfinished_tasks(time.time() + 1)) == {waiting}
    assert await stale_unfinished_tasks(time.time() - 60) == {}


async def test_the_sweep_reads_each_task_where_it_is_scheduled(db):
    task_ids = await stored_tasks(1, endpoints=2)
    places = await stale_unfinished_tasks(time.time() + 1)
    runner_id = (await PromptTask.get(task_ids[0])).session_id
    assert places == dict.fromkeys(task_ids, ("default", runner_id))


async def test_queueing_while_redis_is_down_keeps_the_tasks_and_says_so_once(
    settings: Settings, db, caplog
):
    closed = f"redis://127.0.0.1:{free_loopback_port()}/0"
    queue = TaskQueue(Settings(**{**settings.model_dump(), "redis_url": closed}))
    with caplog.at_level(logging.WARNING, logger="service.workers"):
        # It starts (the server comes up while Redis is down), and queueing returns.
        await queue.start()
        task_ids = await stored_tasks(2)
        async with asyncio.timeout(20):
            await queue.enqueue(task_ids[:1])
            await queue.enqueue(task_ids[1:])
    try:
        tasks = await PromptTask.find_many({"_id": {"$in": task_ids}}).to_list()
        assert [task.status for task in tasks] == [TaskStatus.QUEUED] * 2
        warnings = [record.getMessage() for record in caplog.records]
        assert len(warnings) == 1 and "Redis is unreachable" in warnings[0]
        # The sweep fails while Redis is down: its caller notes the outage and tries later.
        with pytest.raises(Exception) as raised:
            await queue.requeue_stale(older_than_s=0)
        assert "Connection" in type(raised.value).__name__
    finally:
        await queue.stop()


async def test_what_a_stopping_worker_read_goes_back_to_the_others(redis_queue, redis_url):
    task_ids = await tasks_in_sessions(3)
    await redis_queue.enqueue(task_ids)
    queue_name = stream_broker(redis_queue).queue_name
    worker = ReclaimingStreamBroker(
        redis_url, queue_name=queue_name, consumer_group_name="sparring-workers",
        idle_timeout=60_000, reclaim_every_s=60, xread_block=20, xread_count=1,
        consumer_id="0", max_tasks=1, read_ahead=3,
    )
    await worker.startup()
    listening = worker.listen()
    try:
        async with asyncio.timeout(10):
            started = await anext(listening)
        # One started; the other two were read ahead: all three pending on this worker.
        assert (await queue_leftovers(redis_url, queue_name))["pending"] == 3
        await worker.stop_listening(timeout_s=1)
        assert await worker.hand_back(unstarted_only=True) == 2
        assert (await queue_leftovers(redis_url, queue_name))["pending"] == 1
        assert await worker.hand_back() == 1
        # Stopped acknowledging: the started one stays handed back, for someone to run.
        await started.ack()
        assert await queue_leftovers(redis_url, queue_name) == {
            "entries": 3, "pending": 0, "queued_tasks": 3,
        }
        assert worker.held_tasks() == set()
    finally:
        await listening.aclose()
        await worker.shutdown()


async def test_an_acknowledged_task_leaves_the_queue(redis_queue, redis_url):
    task_ids = await stored_tasks(1)
    await redis_queue.enqueue(task_ids)
    queue_name = stream_broker(redis_queue).queue_name
    worker = ReclaimingStreamBroker(
        redis_url, queue_name=queue_name, consumer_group_name="sparring-workers",
        idle_timeout=60_000, reclaim_every_s=60, xread_block=20, xread_count=1,
        consumer_id="0",
    )
    await worker.startup()
    listening = worker.listen()
    try:
        async with asyncio.timeout(10):
            message = await anext(listening)
        assert worker.held_tasks() == set(task_ids)
        await message.ack()
        assert worker.held_tasks() == set()
        assert await queue_leftovers(redis_url, queue_name) == {
            "entries": 0, "pending": 0, "queued_tasks": 0,
        }
        # Gone from Redis, so queueing it again adds it again (it would find itself done).
        await redis_queue.enqueue(task_ids)
        assert (await queue_leftovers(redis_url, queue_name))["queued_tasks"] == 1
    finally:
        await listening.aclose()
        await worker.shutdown()
