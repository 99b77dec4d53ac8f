"""One watcher per process that wakes the live streams of a session when its events change.

Streams wait on the notifier instead of each polling the database: a MongoDB change stream on
the events and sessions collections sees every write, whichever process made it (the embedded
server advertises a single-node replica set). Where change streams are not available (an
in-memory database, a standalone mongod) or while one has failed, one shared poller per
watched session asks the database instead, once per interval however many streams follow it.
"""

import asyncio
import contextvars
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pymongo import DESCENDING
from pymongo.errors import OperationFailure, PyMongoError

from models import Session, SessionEvent
from models.keys import SEPARATOR, runner_key
from service.api.sessions.store import find_session

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_S = 0.1
# Events rendered for the streams of one session, kept for streams a little behind.
KEPT_RESULTS = 256
SESSION_CHECK_S = 2.0
MAX_RETRY_S = 30.0
# A change stream's resume token the server no longer holds: start afresh, and wake everyone.
_TOKEN_LOST = {260, 280, 286}
# A server that cannot run change streams at all (a standalone mongod).
_NOT_SUPPORTED = {40573, 40324, 115}
_WATCHED_OPERATIONS = ["insert", "update", "replace", "delete"]


@dataclass
class _Watch:
    """What the streams of one session wait on."""

    workspace: str
    session_id: str
    streams: int = 0
    # Replaced on every wake, so a waiter that took it before reading misses nothing.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    session_changes: int = 0
    poller: asyncio.Task[None] | None = None
    # Reads the woken streams share: started since the last wake, so they saw what it announced.
    reads: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)
    # Results that never change once made (a numbered event as sent), newest kept.
    kept: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)

    def wake(self, *, session: bool = False) -> None:
        if session:
            self.session_changes += 1
        self.reads = {}
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class Subscription:
    """One stream's hold on its session's watch."""

    def __init__(self, watch: _Watch) -> None:
        self._watch = watch

    def pending(self) -> asyncio.Event:
        """The wake to wait for; take it before reading, so a write in between is not missed."""
        return self._watch.changed

    @property
    def session_changes(self) -> int:
        """How often the session document may have changed (deleted, made again)."""
        return self._watch.session_changes

    async def shared(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()` once for every stream of the session asking for `key` until the next wake.

        Streams woken together ask the same question; one query answers all of them.
        """
        future = self._watch.reads.get(key)
        # A read that failed (the database away) is not an answer to share: the next asks again.
        if future is None or _failed(future):
            future = self._watch.reads[key] = asyncio.ensure_future(read())
        # Shielded: one stream going away does not cancel the read the others wait for.
        return cast(T, await asyncio.shield(future))

    async def kept(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """`make()` once per `key` for all streams of the session, for a result that stays."""
        kept = self._watch.kept
        if key in kept:
            return cast(T, kept[key])
        value = await self.shared(("kept", key), make)
        kept[key] = value
        while len(kept) > KEPT_RESULTS:
            kept.popitem(last=False)
        return value

    async def wait(self, pending: asyncio.Event, timeout_s: float | None) -> bool:
        """Wait for `pending` (from `pending()`), at most `timeout_s`; True when woken."""
        try:
            async with asyncio.timeout(timeout_s):
                await pending.wait()
        except TimeoutError:
            return False
        return True


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


class EventNotifier:
    """Wakes subscribed streams on new events; `start()` with the app, `stop()` on exit."""

    def __init__(
        self,
        database: Any,
        *,
        change_streams: bool = True,
        poll_s: float = POLL_S,
        session_check_s: float = SESSION_CHECK_S,
        open_when_watched: bool = False,
    ) -> None:
        self._database = database
        self._try_change_streams = change_streams
        # Open the change stream only while a session is watched: an open one costs the
        # embedded server a `getMore` on every write anywhere (it wakes for each), which the
        # prompts of a server that nobody follows would pay for nothing.
        self._open_when_watched = open_when_watched
        self.poll_s = poll_s
        self.session_check_s = session_check_s
        self._watches: dict[str, _Watch] = {}
        self._watcher: asyncio.Task[None] | None = None
        # True while a change stream is open; otherwise the per-session pollers run.
        self.streaming = False
        self._opened = asyncio.Event()
        self._streaming_now = asyncio.Event()

    @property
    def mode(self) -> str:
        return "change stream" if self.streaming else "polling"

    async def start(self, *, open_timeout_s: float = 10.0) -> None:
        """Start watching; returns once the change stream is open or polling is chosen."""
        if not self._try_change_streams or self._open_when_watched:
            self._opened.set()
            return
        self._start_watcher()
        try:
            async with asyncio.timeout(open_timeout_s):
                await self._opened.wait()
        except TimeoutError:
            # Streams are polled until the change stream opens; the watcher keeps trying.
            log.warning("Live events: the change stream is slow to open; polling meanwhile.")

    def _start_watcher(self) -> None:
        # Shared by every follower: it runs outside the request that happened to start it, so
        # its log lines carry no request id of that one (`service.request_context`).
        self._watcher = asyncio.create_task(
            self._watch_changes(), name="event-notifier", context=contextvars.Context()
        )

    def _stop_watcher(self) -> None:
        # Nobody watches: the change stream closes (cancelled, it kills its cursor).
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        self.streaming = False
        self._streaming_now.clear()

    async def until_streaming(self) -> None:
        """Return once a change stream is open (for callers that need the cheap mode)."""
        await self._streaming_now.wait()

    async def stop(self) -> None:
        tasks = [self._watcher] if self._watcher is not None else []
        self._watcher = None
        for watch in self._watches.values():
            if watch.poller is not None:
                tasks.append(watch.poller)
                watch.poller = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.streaming = False
        self._streaming_now.clear()

    @contextmanager
    def subscribe(self, workspace: str, session_id: str) -> Iterator[Subscription]:
        """Hold a watch on the session for as long as the block runs."""
        key = runner_key(workspace, session_id)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(workspace, session_id)
        watch.streams += 1
        if self._open_when_watched and self._try_change_streams and self._watcher is None:
            # Polled until the stream is open, which then wakes it: nothing is missed.
            self._start_watcher()
        if not self.streaming:
            self._start_poller(watch)
        try:
            yield Subscription(watch)
        finally:
            watch.streams -= 1
            if watch.streams == 0:
                del self._watches[key]
                if watch.poller is not None:
                    watch.poller.cancel()
                    watch.poller = None
                if self._open_when_watched and not self._watches:
                    self._stop_watcher()

    def watched_sessions(self) -> int:
        return len(self._watches)

    # The change stream.

    async def _open(self, token: Any) -> Any:
        pipeline = [
            {"$match": {
                "ns.coll": {"$in": [SessionEvent.get_collection_name(),
                                    Session.get_collection_name()]},
                "operationType": {"$in": _WATCHED_OPERATIONS},
            }},
            {"$project": {"ns": 1, "operationType": 1, "documentKey": 1,
                          "updateDescription.updatedFields.seq": 1}},
        ]
        opened = self._database.watch(pipeline, resume_after=token)
        return await opened if inspect.isawaitable(opened) else opened

    async def _watch_changes(self) -> None:
        token: Any = None
        retry_s = self.poll_s
        ever_opened = failing = False
        while True:
            try:
                stream = await self._open(token)
            except (NotImplementedError, AttributeError, TypeError):
                return self._without_change_streams("the database has no change streams")
            except OperationFailure as error:
                if not ever_opened and error.code in _NOT_SUPPORTED:
                    return self._without_change_streams(
                        "the database does not support change streams"
                    )
                if error.code in _TOKEN_LOST:
                    token = None
                failing = self._fail(failing, error)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, MAX_RETRY_S)
                continue
            except PyMongoError as error:
                failing = self._fail(failing, error)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, MAX_RETRY_S)
                continue
            if failing:
                log.warning("Live events: change stream open again; pollers stopped.")
            ever_opened, failing, retry_s = True, False, self.poll_s
            self._use_change_stream()
            try:
                async with stream:
                    async for change in stream:
                        token = stream.resume_token
                        self._dispatch(change)
            except OperationFailure as error:
                if error.code in _TOKEN_LOST:
                    token = None
                failing = self._fail(failing, error)
            except PyMongoError as error:
                failing = self._fail(failing, error)
            await asyncio.sleep(retry_s)

    def _fail(self, failing: bool, error: PyMongoError) -> bool:
        if not failing:
            # Once per outage; the pollers keep streams fed meanwhile.
            log.warning(
                "Live events: change stream failed (%s); polling until it opens again.",
                type(error).__name__,
            )
            self._wake_all()
        self._use_pollers()
        return True

    def _wake_all(self) -> None:
        # Each stream reads again: if the database is away it finds out, tells its client and
        # retries, rather than sitting silent until its next heartbeat.
        for watch in self._watches.values():
            watch.wake(session=True)

    def _without_change_streams(self, why: str) -> None:
        log.info("Live events: %s; one shared poller per followed session.", why)
        # For good: a server without change streams is not asked again.
        self._try_change_streams = False
        self._use_pollers()

    def _use_change_stream(self) -> None:
        self.streaming = True
        self._streaming_now.set()
        self._opened.set()
        for watch in self._watches.values():
            if watch.poller is not None:
                watch.poller.cancel()
                watch.poller = None
            # Whatever landed while polling stopped is read now.
            watch.wake(session=True)

    def _use_pollers(self) -> None:
        self.streaming = False
        self._streaming_now.clear()
        self._opened.set()
        for watch in self._watches.values():
            self._start_poller(watch)

    def _dispatch(self, change: dict[str, Any]) -> None:
        key = change.get("documentKey", {}).get("_id")
        if not isinstance(key, str):
            return
        collection = change.get("ns", {}).get("coll")
        if collection == Session.get_collection_name():
            watch = self._watches.get(key)
            if watch is not None:
                watch.wake(session=True)
            return
        operation = change.get("operationType")
        if operation == "delete":
            return
        if operation == "update" and "seq" not in change.get("updateDescription", {}).get(
            "updatedFields", {}
        ):
            return
        watch = self._watch_of_event(key)
        if watch is not None:
            watch.wake()

    def _watch_of_event(self, event_id: str) -> _Watch | None:
        # An event's id is `workspace|session|fact`; the fact has separators of its own.
        parts = event_id.split(SEPARATOR)
        for end in range(2, len(parts)):
            watch = self._watches.get(SEPARATOR.join(parts[:end]))
            if watch is not None:
                return watch
        return None

    # The fallback: one poller per watched session.

    def _start_poller(self, watch: _Watch) -> None:
        if watch.poller is None or watch.poller.done():
            watch.poller = asyncio.create_task(
                self._poll(watch), name=f"event-poller:{watch.session_id}",
                context=contextvars.Context(),
            )

    async def _poll(self, watch: _Watch) -> None:
        events = SessionEvent.get_pymongo_collection()
        newest: Any = object()
        epoch: Any = object()
        checked_at = 0.0
        failing = False
        loop = asyncio.get_running_loop()
        while True:
            try:
                stored = await events.find_one(
                    {"workspace": watch.workspace, "session_id": watch.session_id},
                    projection={"seq": 1},
                    sort=[("seq", DESCENDING)],
                )
                seq = None if stored is None else stored.get("seq")
                if seq != newest:
                    newest = seq
                    watch.wake()
                now = loop.time()
                if now - checked_at >= self.session_check_s:
                    checked_at = now
                    metadata = await find_session(watch.session_id, watch.workspace)
                    current = None if metadata is None else metadata.created_epoch
                    if current != epoch:
                        epoch = current
                        watch.wake(session=True)
                failing = False
            except PyMongoError as error:
                if not failing:
                    log.warning("Live events: polling a session failed (%s).",
                                type(error).__name__)
                    # Its streams read, find the database away and tell their clients.
                    watch.wake(session=True)
                failing = True
            await asyncio.sleep(self.poll_s)
