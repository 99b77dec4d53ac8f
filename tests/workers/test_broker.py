"""The broker settings choose: in-process by default, a Redis stream that reclaims dead work."""

import asyncio
import uuid

from redis.asyncio import Redis
from taskiq import AckableMessage

from service.connectors import NetworkPolicy
from service.settings import Settings
from service.workers.broker import (
    CONSUMER_GROUP,
    LocalBroker,
    ReclaimingStreamBroker,
    build_broker,
    endpoint_network_policy,
)
from service.workers.tasks import RUN_PROMPT_TASK


def test_in_process_without_redis(settings):
    broker = build_broker(settings)
    assert isinstance(broker, LocalBroker)
    assert broker.find_task(RUN_PROMPT_TASK) is not None


def test_endpoint_calls_reach_local_networks_only_in_local_mode(settings):
    assert settings.auth == "local"
    assert endpoint_network_policy(settings) == NetworkPolicy(allow_private=True)
    required = Settings(**{
        **settings.model_dump(), "auth": "required",
        "endpoint_allow_networks": "10.0.0.0/8, fd00::/8",
    })
    assert endpoint_network_policy(required) == NetworkPolicy.from_networks(
        ["10.0.0.0/8", "fd00::/8"], allow_private=False
    )
    unresolved = required.model_copy(update={"auth": None, "endpoint_allow_networks": []})
    assert endpoint_network_policy(unresolved) == NetworkPolicy()


def test_a_redis_stream_with_a_consumer_group_when_redis_is_set(settings, redis_url):
    broker = build_broker(
        Settings(
            **{**settings.model_dump(), "redis_url": redis_url, "worker_idle_timeout_s": 3,
               "task_queue": "q1"}
        )
    )
    assert isinstance(broker, ReclaimingStreamBroker)
    assert (broker.queue_name, broker.consumer_group_name) == ("q1", CONSUMER_GROUP)
    assert broker.idle_timeout == 3000 and broker.count == 1
    assert broker.find_task(RUN_PROMPT_TASK) is not None


async def test_a_task_left_by_a_dead_worker_is_claimed_with_no_new_work(redis_url):
    queue = f"test-{uuid.uuid4().hex}"
    broker = ReclaimingStreamBroker(
        redis_url, queue_name=queue, consumer_group_name=CONSUMER_GROUP, idle_timeout=200,
        reclaim_every_s=0.1, xread_block=100, xread_count=1, consumer_id="0",
    )
    await broker.startup()
    redis = Redis.from_url(redis_url)
    try:
        await redis.xadd(queue, {b"data": b"left behind"})
        # Another worker read it and died before acknowledging it.
        taken = await redis.xreadgroup(CONSUMER_GROUP, "dead-worker", {queue: ">"}, count=1)
        assert taken
        listening = broker.listen()
        async with asyncio.timeout(5):
            message = await anext(listening)
        assert isinstance(message, AckableMessage) and message.data == b"left behind"
        await message.ack()
        pending = await redis.xpending(queue, CONSUMER_GROUP)
        assert pending["pending"] == 0
        await listening.aclose()
    finally:
        await redis.aclose()
        await broker.shutdown()


async def test_local_broker_runs_concurrently_and_stops_what_runs(settings):
    broker = LocalBroker(max_tasks=3)
    started: list[int] = []
    cancelled: list[int] = []
    three_started, release = asyncio.Event(), asyncio.Event()

    async def job(number: int) -> None:
        started.append(number)
        if len(started) == 3:
            three_started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(number)
            raise

    task = broker.register_task(job, task_name="job")
    await broker.startup()
    for number in range(5):
        await task.kiq(number)
    async with asyncio.timeout(5):
        await three_started.wait()
    # Give the two queued tasks every chance to start: all they wait on is a free slot.
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(started) == 3
    await broker.shutdown()
    assert sorted(cancelled) == sorted(started)
    async with asyncio.timeout(1):
        await broker.wait_all()
    assert len(started) == 3
