"""Builds the taskiq broker from settings: in-process by default, a Redis stream when scaled out.

Redis: taskiq-redis's `RedisStreamBroker`, a consumer group from which a task is acknowledged
only after it ran, so a task whose worker died stays pending; after `worker_idle_timeout_s`
another worker claims it. (`ListQueueBroker` pops a task off the list: a worker killed while
running it loses it.)
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any, cast

from redis.asyncio import Redis
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq.exceptions import UnknownTaskError
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from service.api.prompting import Runtime
from service.connectors import NetworkPolicy, new_http_client
from service.database import close_database, current_database, open_database
from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.limiter import LocalLimiter, RedisLimiter
from service.workers.tasks import RUNTIME_STATE_KEY, register_tasks

log = logging.getLogger(__name__)

CONSUMER_GROUP = "sparring-workers"
OPENED_DATABASE_KEY = "opened_database"
LIMITER_KEY = "limiter"
HTTP_CLIENT_KEY = "http_client"
# What XREADGROUP answers on RESP2 without `decode_responses`: [(stream, [(id, fields)])].
StreamMessages = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


class LocalBroker(InMemoryBroker):
    """Runs tasks in this process, concurrently, at most `max_tasks` at once.

    Unlike taskiq's `InMemoryBroker` it stops what is still running when it shuts down: those
    tasks are still unfinished in MongoDB and are queued again at the next start.
    """

    def __init__(self, max_tasks: int) -> None:
        super().__init__(max_async_tasks=max_tasks, max_stored_results=1)
        self._limit = asyncio.Semaphore(max_tasks)
        self._tasks: set[asyncio.Task[None]] = set()

    async def kick(self, message: BrokerMessage) -> None:
        if self.find_task(message.task_name) is None:
            raise UnknownTaskError(task_name=message.task_name)
        task = asyncio.create_task(self._run(message.message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, data: bytes) -> None:
        async with self._limit:
            await self.receiver.callback(message=data)

    async def wait_all(self) -> None:
        """Until every task queued so far (and any it queued) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await super().shutdown()


class ReclaimingStreamBroker(RedisStreamBroker):
    """`RedisStreamBroker` that also claims idle tasks when no new ones arrive.

    The parent only looks for unacknowledged tasks after reading new ones, so a task left by a
    dead worker waits for the next new task; here the claim runs on a clock of its own.
    """

    def __init__(self, url: str, *, reclaim_every_s: float, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.reclaim_every_s = reclaim_every_s

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            reclaimed_at = time.monotonic()
            while True:
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for stream, messages in cast(StreamMessages, fetched or []):
                    for message_id, message in messages:
                        yield AckableMessage(
                            data=message[b"data"],
                            ack=self._ack_generator(
                                id=message_id.decode(), queue_name=stream.decode()
                            ),
                        )
                if time.monotonic() - reclaimed_at >= self.reclaim_every_s:
                    reclaimed_at = time.monotonic()
                    async for reclaimed in self._reclaim(redis):
                        yield reclaimed

    async def _reclaim(self, redis: Redis) -> AsyncGenerator[AckableMessage, None]:
        start = "0-0"
        while True:
            next_start, messages, *_ = await redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                start_id=start,
                count=self.unacknowledged_batch_size,
            )
            for message_id, message in messages:
                if not message:
                    continue
                log.info("Claimed prompt task message %s left by another worker.", message_id)
                yield AckableMessage(
                    data=message[b"data"],
                    ack=self._ack_generator(id=message_id, queue_name=self.queue_name),
                )
            if next_start in (b"0-0", "0-0") or not messages:
                return
            start = next_start


def endpoint_network_policy(settings: Settings) -> NetworkPolicy:
    """Where endpoint calls may connect: in `local` mode anywhere (local model servers are the
    common case); otherwise public addresses and `endpoint_allow_networks` only."""
    # Settings resolve `auth` when validated; one left unresolved gets the strict policy.
    return NetworkPolicy.from_networks(
        settings.endpoint_allow_networks, allow_private=settings.auth == "local"
    )


def build_broker(settings: Settings) -> AsyncBroker:
    """The broker for `settings`, its prompt task registered and its worker start-up wired."""
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = LocalBroker(settings.worker_max_tasks)
    else:
        idle_ms = int(settings.worker_idle_timeout_s * 1000)
        broker = ReclaimingStreamBroker(
            settings.redis_url.get_secret_value(),
            queue_name=settings.task_queue,
            consumer_group_name=CONSUMER_GROUP,
            idle_timeout=idle_ms,
            reclaim_every_s=max(settings.worker_idle_timeout_s / 4, 0.25),
            # Wake up often enough to claim on time even when nothing new arrives.
            xread_block=max(min(idle_ms // 4, 2000), 100),
            # Take one task at a time: a task read is pending on this worker until it ran.
            xread_count=1,
            consumer_id="0",
            # Named after the process, so the group's pending list shows who holds what.
            consumer_name=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        )
    register_tasks(broker)

    async def start_worker(state: TaskiqState) -> None:
        state[OPENED_DATABASE_KEY] = False
        if current_database() is None:
            await open_database(settings)
            state[OPENED_DATABASE_KEY] = True
        limiter: LocalLimiter | RedisLimiter
        if settings.redis_url is None:
            limiter = LocalLimiter()
        else:
            limiter = RedisLimiter(Redis.from_url(settings.redis_url.get_secret_value()))
        state[LIMITER_KEY] = limiter
        state[HTTP_CLIENT_KEY] = new_http_client(endpoint_network_policy(settings))
        state[RUNTIME_STATE_KEY] = Runtime(
            cipher=TokenCipher.from_settings(settings),
            limiter=limiter,
            http_client=state[HTTP_CLIENT_KEY],
        )

    async def stop_worker(state: TaskiqState) -> None:
        http_client = state.get(HTTP_CLIENT_KEY)
        if http_client is not None:
            await http_client.aclose()
        limiter = state.get(LIMITER_KEY)
        if isinstance(limiter, RedisLimiter):
            await limiter.aclose()
        if state.get(OPENED_DATABASE_KEY):
            await close_database()

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, start_worker)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, stop_worker)
    return broker
