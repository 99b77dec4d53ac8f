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
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq.exceptions import UnknownTaskError
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from service.api.prompting import Runtime
from service.api.runs.hooks import RunHooks
from service.connectors import NetworkPolicy, new_http_client
from service.database import close_database, current_database, open_database
from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.fairness import FairQueue, labels_place, reserved_slots
from service.workers.limiter import LocalLimiter, RedisLimiter
from service.workers.outages import OUTAGES, REDIS_ERRORS, Backoff
from service.workers.request_ids import RequestIdMiddleware
from service.workers.tasks import QUEUE_STATE_KEY, RUNTIME_STATE_KEY, register_tasks

log = logging.getLogger(__name__)

CONSUMER_GROUP = "sparring-workers"
OPENED_DATABASE_KEY = "opened_database"
LIMITER_KEY = "limiter"
HTTP_CLIENT_KEY = "http_client"
# The label a queued prompt task carries its id in: Redis keeps each task queued once.
PROMPT_TASK_LABEL = "prompt_task"
# An unreachable Redis fails a call after this, rather than hang on the connect.
REDIS_CONNECT_TIMEOUT_S = 2.0
# Longest a Redis command may take (reads block at most `xread_block`, far less).
REDIS_SOCKET_TIMEOUT_S = 10.0
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

    async def drain(self, timeout_s: float) -> None:
        """Start nothing more, and give what runs up to `timeout_s` to finish (`shutdown`
        cancels the rest). What waits stays unfinished in MongoDB: the next start (or, with
        Redis, a worker's sweep) queues it again."""
        self._waiting.clear()
        self.max_tasks = self.reserved = 0
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def shutdown(self) -> None:
        # What waits is dropped: it is unfinished in MongoDB and queued again at the next start.
        self._waiting.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await super().shutdown()


# KEYS[1] the session's stream, KEYS[2] the set of streams, KEYS[3] the set of queued task ids;
# ARGV group, data, workspace, session, task id ('' for a task without one). A task already in
# the set has an entry, waiting or running: it is not added twice (the sweep and a restart's
# recovery may queue it again). The group is made with the stream (from its start), so no
# reader ever misses an entry.
_KICK = """
if ARGV[5] ~= '' and redis.call('SADD', KEYS[3], ARGV[5]) == 0 then return 0 end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
redis.call('XADD', KEYS[1], '*', 'data', ARGV[2], 'workspace', ARGV[3], 'session', ARGV[4],
           'task', ARGV[5])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""
# KEYS[1] a stream, KEYS[2] the set of streams, KEYS[3] the set of queued task ids; ARGV group,
# entry id, 1 if the stream may go, task id. Acknowledged entries are deleted, so an empty
# stream has nothing pending: it and its name go (atomically with the kick script, which makes
# both again). The task leaves the set only if this entry was still pending: an entry Redis
# lost (a restart without persistence) may have been queued again meanwhile.
_ACK = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 and ARGV[4] ~= '' then
  redis.call('SREM', KEYS[3], ARGV[4])
end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == '1' and redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], KEYS[1])
end
return 1
"""
# KEYS[1] a stream, KEYS[2] the set of streams; ARGV group, entry id, data, workspace, session,
# task id. Hands an entry this worker read back to the others: still pending, it is added again
# as new (any worker reads it at once, rather than claiming it after the idle timeout).
_RELEASE = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[1], '*', 'data', ARGV[3], 'workspace', ARGV[4], 'session', ARGV[5],
           'task', ARGV[6])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""
# KEYS[1] the set of streams, KEYS[2] the queue's own stream; ARGV group. Forgets names whose
# stream is gone (Redis evicted it, or restarted without its data), and makes the queue's own
# stream and group again if they went too (every read names it).
_PRUNE = """
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', name) == 0 then redis.call('SREM', KEYS[1], name) end
end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[2], ARGV[1], '0', 'MKSTREAM')
return 1
"""
# The entry fields of a prompt task: what `_KICK` writes and `_RELEASE` writes again.
Fields = dict[bytes, bytes]
# An entry: (stream, entry id).
EntryKey = tuple[str, str]


class _Turns:
    """What one worker's `listen` keeps between reads (and across Redis outages)."""

    def __init__(self) -> None:
        # (stream, workspace, entry key, message) of each entry read and not yet handed out.
        self.waiting: FairQueue[tuple[str, str, EntryKey, AckableMessage]] = FairQueue()
        # Streams with an entry in `waiting`: those are not read again until it is handed out.
        self.held: Counter[str] = Counter()
        self.running: Counter[str] = Counter()
        self.ended = asyncio.Event()
        self.reclaimed_at = time.monotonic()


class ReclaimingStreamBroker(RedisStreamBroker):
    """Redis streams, one per session with work waiting, read in fair turns by every worker.

    A task is added to its session's stream (`{queue}:{workspace}:{session}`; unlabelled ones
    to `{queue}`), the stream's name to the set `{queue}:streams`, and the prompt task's id to
    the set `{queue}:tasks` (a task in it is not added again). A worker asks for the next task
    when a slot frees; it then reads at most one new entry of each stream into a local
    `FairQueue` of at most `read_ahead` entries and hands out the next in turn (round robin over
    workspaces, then sessions). An entry is acknowledged (and deleted) only after it ran, so one
    whose worker died stays pending; after `idle_timeout` ms another worker claims it, on a
    clock of its own (the parent only claims after reading new tasks). A worker that stops
    hands back what it read and did not finish (`hand_back`).

    Redis going away costs a wait: reading, claiming and acknowledging retry with backoff (the
    outage logged once, `outages`), with what was read kept.
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
        self.tasks_key = f"{self.queue_name}:tasks"
        # Entries this worker read and has not acknowledged, and which of them it started.
        self._unacknowledged: dict[EntryKey, Fields] = {}
        self._started: set[EntryKey] = set()
        self._handing_back = False
        # Set by `stop_listening`; `listen` sets the other once it has stopped.
        self._stop_listening = asyncio.Event()
        self._listen_stopped = asyncio.Event()

    def session_stream(self, workspace: str, session: str) -> str:
        if not workspace:
            return self.queue_name
        return f"{self.queue_name}:{workspace}:{session}"

    async def startup(self) -> None:
        """Start; Redis being down does not stop it (a server starts, and queues once Redis is
        back): the kick script makes each stream's group, and a read the queue's own."""
        await AsyncBroker.startup(self)
        try:
            await self._declare_consumer_group()
        except REDIS_ERRORS as error:
            OUTAGES.redis.failed(error)

    async def kick(self, message: BrokerMessage) -> None:
        workspace, session = labels_place(message.labels)
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.eval(
                _KICK, 3, self.session_stream(workspace, session), self.streams_key,
                self.tasks_key, self.consumer_group_name, message.message, workspace, session,
                str(message.labels.get(PROMPT_TASK_LABEL, "")),
            )

    async def queued_tasks(self, task_ids: Sequence[str]) -> set[str]:
        """Those of `task_ids` with an entry in Redis (waiting, or read and not acknowledged)."""
        if not task_ids:
            return set()
        async with Redis(connection_pool=self.connection_pool) as redis:
            found = await redis.smismember(self.tasks_key, list(task_ids))
        return {task_id for task_id, queued in zip(task_ids, found, strict=True) if queued}

    def held_tasks(self) -> set[str]:
        """Prompt task ids of the entries this worker read and has not acknowledged."""
        return {
            _text(fields.get(b"task", b"")) for fields in self._unacknowledged.values()
        } - {""}

    async def stop_listening(self, timeout_s: float) -> None:
        """Hand out no more tasks; returns once `listen` has stopped (or after `timeout_s`)."""
        self._stop_listening.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listen_stopped.wait(), timeout_s)

    def stop_acknowledging(self) -> None:
        """From now on nothing is acknowledged: what is read and unfinished goes back whole
        (`hand_back`), even a task cancelled (which taskiq would acknowledge as failed)."""
        self._handing_back = True

    async def hand_back(self, *, unstarted_only: bool = False) -> int:
        """Give back the entries read here and not acknowledged: each is added again as new,
        for another worker to read at once; returns how many went back.

        `unstarted_only`: those read ahead and never handed out (after `stop_listening`, none
        will be). Otherwise all, and acknowledgements stop from here on (a task that ends
        meanwhile is found done when it runs again).
        """
        if unstarted_only:
            entries = {
                key: fields for key, fields in self._unacknowledged.items()
                if key not in self._started
            }
        else:
            self.stop_acknowledging()
            entries = dict(self._unacknowledged)
        for key in entries:
            del self._unacknowledged[key]
        released = 0
        async with Redis(connection_pool=self.connection_pool) as redis:
            for (stream, entry_id), fields in entries.items():
                released += int(await redis.eval(
                    _RELEASE, 2, stream, self.streams_key, self.consumer_group_name, entry_id,
                    fields.get(b"data", b""), fields.get(b"workspace", b""),
                    fields.get(b"session", b""), fields.get(b"task", b""),
                ))
        return released

    def _ackable(
        self, stream: bytes | str, entry_id: bytes | str, fields: Fields
    ) -> AckableMessage:
        name, key = _text(stream), _text(entry_id)
        self._unacknowledged[(name, key)] = fields
        removable = "0" if name == self.queue_name else "1"
        task_id = _text(fields.get(b"task", b""))

        async def ack() -> None:
            backoff = Backoff()
            # Once handing back, the entry goes back instead (`hand_back`).
            while not self._handing_back:
                try:
                    async with Redis(connection_pool=self.connection_pool) as redis:
                        await redis.eval(
                            _ACK, 3, name, self.streams_key, self.tasks_key,
                            self.consumer_group_name, key, removable, task_id,
                        )
                except REDIS_ERRORS as error:
                    # Left unacknowledged, the task would run again after the idle timeout.
                    OUTAGES.redis.failed(error)
                    await backoff.wait()
                    continue
                OUTAGES.redis.succeeded()
                self._unacknowledged.pop((name, key), None)
                self._started.discard((name, key))
                return

        return AckableMessage(data=fields[b"data"], ack=ack)

    async def _streams(self, redis: Redis) -> list[str]:
        names = await redis.smembers(self.streams_key)
        return [self.queue_name, *sorted(_text(name) for name in names)]

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Tasks in turn: up to `max_tasks` running, and beyond them (the receiver allows
        `reserved_slots` more) only tasks of workspaces with nothing running here.

        Never ends by itself: while Redis is unreachable it waits and tries again, keeping what
        it read, so the receiver (which would otherwise restart at once, again and again) never
        sees the outage.
        """
        turns = _Turns()
        backoff = Backoff()
        self._listen_stopped.clear()
        try:
            while not self._stop_listening.is_set():
                try:
                    async with Redis(connection_pool=self.connection_pool) as redis:
                        while not self._stop_listening.is_set():
                            taken = await self._next_turn(redis, turns)
                            backoff.reset()
                            if taken is not None:
                                yield taken
                except REDIS_ERRORS as error:
                    OUTAGES.redis.failed(error)
                    await backoff.wait()
        finally:
            self._listen_stopped.set()

    async def _next_turn(self, redis: Redis, turns: _Turns) -> AckableMessage | None:
        """Read what is due and hand out the next task in turn, if one may start now."""
        waiting, running = turns.waiting, turns.running
        full = sum(running.values()) >= self.max_tasks
        if len(waiting) < self.read_ahead or full:
            # Block only with nothing in hand; then wake up often, to see new streams.
            await self._read_new(redis, turns, block=None if waiting else self.block)
        if time.monotonic() - turns.reclaimed_at >= self.reclaim_every_s:
            turns.reclaimed_at = time.monotonic()
            for stream in await self._streams(redis):
                async for place, key, reclaimed in self._reclaim(redis, stream):
                    waiting.push(*place, (stream, place[0], key, reclaimed))
                    turns.held[stream] += 1
        if self._stop_listening.is_set():
            return None  # What was read stays unstarted, to be handed back.
        if full:
            taken = waiting.pop_where(lambda workspace: not running[workspace])
        else:
            taken = waiting.pop()
        if taken is None:
            if waiting:
                # Only busy workspaces wait: until a task ends, or to look for others.
                turns.ended.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(turns.ended.wait(), self.block / 1000)
            return None
        stream, workspace, key, message = taken
        turns.held[stream] -= 1
        if turns.held[stream] <= 0:
            del turns.held[stream]
        self._started.add(key)
        return _tracked(turns, workspace, message)

    async def _read_new(self, redis: Redis, turns: _Turns, *, block: int | None) -> None:
        """The next new entry of each stream that has none in `waiting`, into it."""
        streams = [stream for stream in await self._streams(redis) if stream not in turns.held]
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
            OUTAGES.redis.succeeded()
            # A stream emptied and went between listing and reading, or Redis restarted without
            # its data: list again next time, the queue's own stream and group made again.
            log.debug("Reading prompt task streams again: %s", error)
            await redis.eval(_PRUNE, 2, self.streams_key, self.queue_name,
                             self.consumer_group_name)
            return
        OUTAGES.redis.succeeded()
        for stream, messages in cast(StreamMessages, fetched or []):
            for message_id, message in messages:
                name = _text(stream)
                workspace, session = _place(message)
                key = (name, _text(message_id))
                turns.waiting.push(
                    workspace, session,
                    (name, workspace, key, self._ackable(name, message_id, message)),
                )
                turns.held[name] += 1

    async def _reclaim(
        self, redis: Redis, stream: str
    ) -> AsyncGenerator[tuple[tuple[str, str], EntryKey, AckableMessage], None]:
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
                yield (
                    _place(message), (stream, _text(message_id)),
                    self._ackable(stream, message_id, message),
                )
            if next_start in (b"0-0", "0-0") or not messages:
                return
            start = next_start


def _tracked(turns: _Turns, workspace: str, message: AckableMessage) -> AckableMessage:
    """`message`, counted as running in its workspace until it is acknowledged."""
    turns.running[workspace] += 1

    async def ack() -> None:
        # Counted as ended first: a failed acknowledgement must not hold a slot.
        turns.running[workspace] -= 1
        if turns.running[workspace] <= 0:
            del turns.running[workspace]
        turns.ended.set()
        acknowledged = message.ack()
        if acknowledged is not None:
            await acknowledged

    return AckableMessage(data=message.data, ack=ack)


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


def redis_connection_options() -> dict[str, Any]:
    """redis-py's options for the queue's and the limiter's connections."""
    return {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        # A pooled connection Redis closed (it restarted) fails once: tried again at once on a
        # new one, so only an outage that lasts is seen (and logged) as one.
        "retry": Retry(NoBackoff(), 1),
    }


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
            **redis_connection_options(),
        )
    register_tasks(broker)
    # Each task carries the id of the request that queued it into the worker's log lines.
    broker.add_middlewares(RequestIdMiddleware())

    async def start_worker(state: TaskiqState) -> None:
        # Tried again until the database answers (`sparring worker`): what is made stays made.
        if OPENED_DATABASE_KEY not in state:
            state[OPENED_DATABASE_KEY] = False
        if current_database() is None:
            await open_database(settings)
            state[OPENED_DATABASE_KEY] = True
        if LIMITER_KEY in state:
            return
        limiter: LocalLimiter | RedisLimiter
        if settings.redis_url is None:
            limiter = LocalLimiter()
        else:
            limiter = RedisLimiter(Redis.from_url(
                settings.redis_url.get_secret_value(), **redis_connection_options()
            ))
        state[LIMITER_KEY] = limiter
        state[HTTP_CLIENT_KEY] = new_http_client(endpoint_network_policy(settings))
        # The process's `TaskQueue` put itself in the state when it was made on this broker.
        queue = state.get(QUEUE_STATE_KEY)
        state[RUNTIME_STATE_KEY] = Runtime(
            cipher=TokenCipher.from_settings(settings),
            limiter=limiter,
            http_client=state[HTTP_CLIENT_KEY],
            runs=None if queue is None else RunHooks(kick=queue.kick_run),
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
