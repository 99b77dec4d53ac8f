"""Builds the taskiq broker from settings: in-process by default, Redis streams when scaled out.

Either way free slots go in fair turns: round robin over workspaces, then sessions (`fairness`).
Redis: taskiq-redis's `RedisStreamBroker` made one stream per session with work waiting, each
with a consumer group from which a task is acknowledged only after it ran, so a task whose
worker died stays pending; after `worker_idle_timeout_s` another worker claims it.
(`ListQueueBroker` pops a task off the list: a worker killed while running it loses it.)
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq.exceptions import UnknownTaskError
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from service.api.prompting import Runtime
from service.connectors import NetworkPolicy, new_http_client
from service.database import close_database, current_database, open_database
from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.fairness import FairQueue, labels_place, reserved_slots
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
    """Runs tasks in this process, concurrently, at most `max_tasks` at once, in fair turns.

    Tasks waiting for a slot are taken round robin over workspaces, then sessions (`fairness`);
    a workspace with nothing running may also take one of `reserved_slots(max_tasks)` more.
    Unlike taskiq's `InMemoryBroker` it stops what is still running when it shuts down: those
    tasks are still unfinished in MongoDB and are queued again at the next start.
    """

    def __init__(self, max_tasks: int) -> None:
        super().__init__(max_async_tasks=max_tasks, max_stored_results=1)
        self.max_tasks = max_tasks
        self.reserved = reserved_slots(max_tasks)
        self._waiting: FairQueue[tuple[str, bytes]] = FairQueue()
        # Each running task and its workspace; how many each workspace runs.
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._running: Counter[str] = Counter()

    async def kick(self, message: BrokerMessage) -> None:
        if self.find_task(message.task_name) is None:
            raise UnknownTaskError(task_name=message.task_name)
        workspace, session = labels_place(message.labels)
        self._waiting.push(workspace, session, (workspace, message.message))
        self._start_waiting()

    def _start_waiting(self) -> None:
        while len(self._tasks) < self.max_tasks + self.reserved:
            if len(self._tasks) < self.max_tasks:
                taken = self._waiting.pop()
            else:
                taken = self._waiting.pop_where(lambda workspace: not self._running[workspace])
            if taken is None:
                return
            workspace, data = taken
            task = asyncio.create_task(self.receiver.callback(message=data))
            self._tasks[task] = workspace
            self._running[workspace] += 1
            task.add_done_callback(self._ended)

    def _ended(self, task: "asyncio.Task[None]") -> None:
        workspace = self._tasks.pop(task, None)
        if workspace is not None:
            self._running[workspace] -= 1
            if self._running[workspace] <= 0:
                del self._running[workspace]
        self._start_waiting()

    async def wait_all(self) -> None:
        """Until every task queued so far (and any it queued) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        # What waits is dropped: it is unfinished in MongoDB and queued again at the next start.
        self._waiting.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await super().shutdown()


# KEYS[1] the session's stream, KEYS[2] the set of streams; ARGV group, data, workspace,
# session. The group is made with the stream (from its start), so no reader ever misses an entry.
_KICK = """
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
redis.call('XADD', KEYS[1], '*', 'data', ARGV[2], 'workspace', ARGV[3], 'session', ARGV[4])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""
# KEYS[1] a stream, KEYS[2] the set of streams; ARGV group, entry id, 1 if the stream may go.
# Acknowledged entries are deleted, so an empty stream has nothing pending: it and its name go
# (atomically with the kick script, which makes both again).
_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == '1' and redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], KEYS[1])
end
return 1
"""
# KEYS[1] the set of streams. Forgets names whose stream is gone (Redis evicted it, say).
_PRUNE = """
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', name) == 0 then redis.call('SREM', KEYS[1], name) end
end
return 1
"""


class ReclaimingStreamBroker(RedisStreamBroker):
    """Redis streams, one per session with work waiting, read in fair turns by every worker.

    A task is added to its session's stream (`{queue}:{workspace}:{session}`; unlabelled ones
    to `{queue}`), and the stream's name to the set `{queue}:streams`. A worker asks for the
    next task when a slot frees; it then reads at most one new entry of each stream into a
    local `FairQueue` of at most `read_ahead` entries and hands out the next in turn (round
    robin over workspaces, then sessions). An entry is acknowledged (and deleted) only after it
    ran, so one whose worker died stays pending; after `idle_timeout` ms another worker claims
    it, on a clock of its own (the parent only claims after reading new tasks).
    """

    def __init__(
        self,
        url: str,
        *,
        reclaim_every_s: float,
        max_tasks: int = 1,
        read_ahead: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(url, **kwargs)
        self.reclaim_every_s = reclaim_every_s
        self.max_tasks = max_tasks
        self.read_ahead = read_ahead
        self.streams_key = f"{self.queue_name}:streams"

    def session_stream(self, workspace: str, session: str) -> str:
        if not workspace:
            return self.queue_name
        return f"{self.queue_name}:{workspace}:{session}"

    async def kick(self, message: BrokerMessage) -> None:
        workspace, session = labels_place(message.labels)
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.eval(
                _KICK, 2, self.session_stream(workspace, session), self.streams_key,
                self.consumer_group_name, message.message, workspace, session,
            )

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        removable = "0" if queue_name == self.queue_name else "1"

        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.eval(
                    _ACK, 2, queue_name, self.streams_key, self.consumer_group_name, id,
                    removable,
                )

        return ack

    async def _streams(self, redis: Redis) -> list[str]:
        names = await redis.smembers(self.streams_key)
        return [self.queue_name, *sorted(_text(name) for name in names)]

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Tasks in turn: up to `max_tasks` running, and beyond them (the receiver allows
        `reserved_slots` more) only tasks of workspaces with nothing running here."""
        waiting: FairQueue[tuple[str, str, AckableMessage]] = FairQueue()
        # Streams with an entry in `waiting`: those are not read again until it is handed out.
        held: Counter[str] = Counter()
        running: Counter[str] = Counter()
        ended = asyncio.Event()

        def track(workspace: str, message: AckableMessage) -> AckableMessage:
            running[workspace] += 1

            async def ack() -> None:
                # Counted as ended first: a failed acknowledgement must not hold a slot.
                running[workspace] -= 1
                if running[workspace] <= 0:
                    del running[workspace]
                ended.set()
                acknowledged = message.ack()
                if acknowledged is not None:
                    await acknowledged

            return AckableMessage(data=message.data, ack=ack)

        async with Redis(connection_pool=self.connection_pool) as redis:
            reclaimed_at = time.monotonic()
            while True:
                full = sum(running.values()) >= self.max_tasks
                if len(waiting) < self.read_ahead or full:
                    # Block only with nothing in hand; then wake up often, to see new streams.
                    await self._read_new(
                        redis, waiting, held, block=None if waiting else self.block
                    )
                if time.monotonic() - reclaimed_at >= self.reclaim_every_s:
                    reclaimed_at = time.monotonic()
                    for stream in await self._streams(redis):
                        async for place, reclaimed in self._reclaim(redis, stream):
                            waiting.push(*place, (stream, place[0], reclaimed))
                            held[stream] += 1
                if full:
                    taken = waiting.pop_where(lambda workspace: not running[workspace])
                else:
                    taken = waiting.pop()
                if taken is None:
                    if waiting:
                        # Only busy workspaces wait: until a task ends, or to look for others.
                        ended.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(ended.wait(), self.block / 1000)
                    continue
                stream, workspace, message = taken
                held[stream] -= 1
                if held[stream] <= 0:
                    del held[stream]
                yield track(workspace, message)

    async def _read_new(
        self,
        redis: Redis,
        waiting: FairQueue[tuple[str, str, AckableMessage]],
        held: Counter[str],
        *,
        block: int | None,
    ) -> None:
        """The next new entry of each stream that has none in `waiting`, into it."""
        streams = [stream for stream in await self._streams(redis) if stream not in held]
        if not streams:
            return
        try:
            fetched = await redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                dict.fromkeys(streams, ">"),
                block=block,
                noack=False,
                count=self.count,
            )
        except ResponseError as error:
            # A stream emptied and went between listing and reading: list again next time.
            log.debug("Reading prompt task streams again: %s", error)
            await redis.eval(_PRUNE, 1, self.streams_key)
            return
        for stream, messages in cast(StreamMessages, fetched or []):
            for message_id, message in messages:
                name = _text(stream)
                workspace, session = _place(message)
                waiting.push(
                    workspace, session,
                    (name, workspace, self._ackable(name, message_id, message)),
                )
                held[name] += 1

    def _ackable(
        self, stream: bytes | str, message_id: bytes | str, message: dict[bytes, bytes]
    ) -> AckableMessage:
        return AckableMessage(
            data=message[b"data"],
            ack=self._ack_generator(id=_text(message_id), queue_name=_text(stream)),
        )

    async def _reclaim(
        self, redis: Redis, stream: str
    ) -> AsyncGenerator[tuple[tuple[str, str], AckableMessage], None]:
        start = "0-0"
        while True:
            try:
                next_start, messages, *_ = await redis.xautoclaim(
                    stream,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    start_id=start,
                    count=self.unacknowledged_batch_size,
                )
            except ResponseError as error:
                log.debug("Stream %s went before it was claimed from: %s", stream, error)
                return
            for message_id, message in messages:
                if not message:
                    continue
                log.info("Claimed prompt task message %s left by another worker.", message_id)
                yield _place(message), self._ackable(stream, message_id, message)
            if next_start in (b"0-0", "0-0") or not messages:
                return
            start = next_start


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _place(message: dict[bytes, bytes]) -> tuple[str, str]:
    return _text(message.get(b"workspace", b"")), _text(message.get(b"session", b""))


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
            # Wake up often, to claim on time and to read the streams of sessions new since.
            xread_block=max(min(idle_ms // 4, 100), 20),
            # The head entry of each stream per read, into a fair local queue of a few entries
            # per slot: each is pending on this worker until it ran.
            xread_count=1,
            max_tasks=settings.worker_max_tasks,
            read_ahead=4 * settings.worker_max_tasks,
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
