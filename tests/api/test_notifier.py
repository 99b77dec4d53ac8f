"""The event notifier: idle streams ask nothing of the database; new events still arrive, in order.

Commands are counted with a PyMongo command listener on a client made for the test, bound as
the service's database for its length (the real-server tier: mongomock has no listeners).
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import AutoReconnect, OperationFailure

from models import EventKind
from service.api.events import Event, follow_events, log_event
from service.api.notifier import EventNotifier
from service.api.sessions.runners import delete_runner
from service.api.sessions.store import find_session
from service.database import Database, bind_database
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_session

IDLE_S = 5.0


class CommandCounter(monitoring.CommandListener):
    """Counts the commands a client sends, by name and collection."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        self.counts[(event.command_name, collection)] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self, *, without: tuple[str, ...] = ()) -> int:
        return sum(n for (name, _), n in self.counts.items() if name not in without)

    def of(self, name: str, collection: str) -> int:
        return self.counts[(name, collection)]


@pytest.fixture
async def listened(
    db: Database, server_uri: str
) -> AsyncIterator[tuple[Database, CommandCounter]]:
    """The test's database through a client whose commands are counted."""
    counter = CommandCounter()
    client: AsyncMongoClient = AsyncMongoClient(
        server_uri, tz_aware=True, event_listeners=[counter]
    )
    name = db.database.name
    try:
        yield await bind_database(client[name], client, bucket_size=TEST_BUCKET_SIZE), counter
    finally:
        await bind_database(db.database, db.client, bucket_size=TEST_BUCKET_SIZE)
        await client.close()


@pytest.fixture
async def other_client(server_uri: str) -> AsyncIterator[AsyncMongoClient]:
    """Another client of the same server, as a worker process would hold."""
    client: AsyncMongoClient = AsyncMongoClient(server_uri, tz_aware=True)
    yield client
    await client.close()


async def numbered_event(workspace: str, session_id: str, epoch: str, fact: str) -> None:
    await log_event(workspace, session_id, epoch, fact, EventKind.BATCH, "b", status=fact)


async def write_from_elsewhere(
    client: AsyncMongoClient, name: str, session_id: str, epoch: str, seq: int
) -> None:
    """An event stored and numbered by another client, the way `log_event` does it."""
    database = client[name]
    key = f"default|{session_id}|batch|b|other{seq}"
    await database.session_events.insert_one({
        "_id": key, "workspace": "default", "session_id": session_id, "session_epoch": epoch,
        "fact": f"batch|b|other{seq}", "kind": "batch", "batch_id": "b",
        "status": f"other{seq}", "at": time.time(),
    })
    await database.session_event_counters.update_one(
        {"_id": f"default|{session_id}"}, {"$inc": {"last_seq": 1}}, upsert=True
    )
    await database.session_events.update_one({"_id": key}, {"$set": {"seq": seq}})


async def next_event(stream: AsyncIterator[Event | None], timeout_s: float = 10) -> Event:
    async with asyncio.timeout(timeout_s):
        while True:
            event = await anext(stream)
            if event is not None:
                return event


async def started(notifier: EventNotifier) -> EventNotifier:
    await notifier.start()
    return notifier


class TestChangeStream:
    @pytest.mark.server_only
    async def test_an_idle_stream_asks_nothing_and_new_events_still_arrive_in_order(
        self, listened, other_client
    ):
        database, counter = listened
        notifier = await started(EventNotifier(database.database))
        try:
            assert notifier.streaming
            runner_id = await create_session(endpoints=["echo-a"])
            epoch = (await find_session(runner_id, "default")).created_epoch
            await numbered_event("default", runner_id, epoch, "one")
            stream = follow_events(runner_id, after=0, notifier=notifier)
            assert (await next_event(stream)).seq == 1
            waiting = asyncio.ensure_future(next_event(stream))
            # Let the stream finish its read and settle into waiting.
            await asyncio.sleep(0.5)
            counter.counts.clear()
            await asyncio.sleep(IDLE_S)
            assert not waiting.done()
            # The notifier's own change stream waits server-side; nothing else is asked.
            assert counter.total(without=("getMore",)) == 0, counter.counts
            assert counter.total() <= IDLE_S * 4, counter.counts
            await write_from_elsewhere(other_client, database.database.name, runner_id, epoch, 2)
            second = await waiting
            assert (second.seq, second.data["status"]) == (2, "other2")
            await numbered_event("default", runner_id, epoch, "three")
            assert (await next_event(stream)).seq == 3
            await stream.aclose()
            resumed = follow_events(runner_id, after=1, notifier=notifier)
            assert [(await next_event(resumed)).seq for _ in range(2)] == [2, 3]
            await resumed.aclose()
        finally:
            await notifier.stop()

    @pytest.mark.server_only
    async def test_a_stream_ends_when_its_session_is_deleted(self, listened):
        database, _ = listened
        notifier = await started(EventNotifier(database.database))
        try:
            runner_id = await create_session(endpoints=["echo-a"])
            stream = follow_events(runner_id, after=0, notifier=notifier)
            ending = asyncio.ensure_future(anext(stream, "ended"))
            await asyncio.sleep(0.2)
            await delete_runner(runner_id)
            async with asyncio.timeout(10):
                assert await ending == "ended"
            assert notifier.watched_sessions() == 0
        finally:
            await notifier.stop()

    @pytest.mark.server_only
    async def test_a_failed_open_is_logged_once_polled_meanwhile_then_retried(
        self, listened, caplog
    ):
        database, _ = listened
        flaky = FlakyDatabase(database.database, failures=3)
        notifier = EventNotifier(flaky, poll_s=0.05)
        runner_id = await create_session(endpoints=["echo-a"])
        epoch = (await find_session(runner_id, "default")).created_epoch
        with caplog.at_level(logging.WARNING, logger="service.api.notifier"):
            await notifier.start()
            try:
                assert not notifier.streaming
                stream = follow_events(runner_id, after=0, notifier=notifier)
                first = asyncio.ensure_future(next_event(stream))
                await numbered_event("default", runner_id, epoch, "while-polling")
                assert (await first).seq == 1
                async with asyncio.timeout(10):
                    await notifier.until_streaming()
                await numbered_event("default", runner_id, epoch, "streamed")
                assert (await next_event(stream)).seq == 2
                await stream.aclose()
            finally:
                await notifier.stop()
        failures = [r for r in caplog.records if "change stream failed" in r.getMessage()]
        assert len(failures) == 1
        assert flaky.opened == 4


class FlakyDatabase:
    """A database whose first `failures` change streams fail to open, as during an outage."""

    def __init__(self, database: Any, *, failures: int) -> None:
        self._database = database
        self.failures = failures
        self.opened = 0

    async def watch(self, *args: Any, **kwargs: Any) -> Any:
        self.opened += 1
        if self.opened <= self.failures:
            raise AutoReconnect("connection refused")
        return await self._database.watch(*args, **kwargs)


class BreakingDatabase:
    """A database whose first change stream breaks after one change, its history lost."""

    def __init__(self, database: Any) -> None:
        self._database = database
        self.opened: list[Any] = []
        self.reopened = asyncio.Event()

    async def watch(self, *args: Any, **kwargs: Any) -> Any:
        self.opened.append(kwargs.get("resume_after"))
        if len(self.opened) > 1:
            self.reopened.set()
        stream = await self._database.watch(*args, **kwargs)
        return BreakingStream(stream) if len(self.opened) == 1 else stream


class BreakingStream:
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.resume_token = None

    async def __aenter__(self) -> "BreakingStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.close()

    def __aiter__(self) -> "BreakingStream":
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.resume_token is not None:
            raise OperationFailure("resume point no longer in the oplog", code=286)
        change = await self._stream.next()
        self.resume_token = self._stream.resume_token
        return change


class TestOpenWhenWatched:
    @pytest.mark.server_only
    async def test_no_stream_while_nobody_watches_and_nothing_missed_once_one_does(
        self, listened
    ):
        database, counter = listened
        notifier = await started(EventNotifier(database.database, open_when_watched=True))
        try:
            assert not notifier.streaming
            runner_id = await create_session(endpoints=["echo-a"])
            epoch = (await find_session(runner_id, "default")).created_epoch
            before = counter.counts.copy()
            for number in range(5):
                await numbered_event("default", runner_id, epoch, f"unwatched{number}")
            # Nobody follows: no change stream wakes for these writes.
            asked = counter.counts - before
            assert sum(n for (name, _), n in asked.items() if name in ("aggregate", "getMore")) == 0
            stream = follow_events(runner_id, notifier=notifier)
            first = asyncio.ensure_future(next_event(stream))
            async with asyncio.timeout(10):
                await notifier.until_streaming()
            await numbered_event("default", runner_id, epoch, "watched")
            assert (await first).data["status"] == "watched"
            await stream.aclose()
            # The last watcher gone, the stream closes again.
            assert not notifier.streaming and notifier.watched_sessions() == 0
        finally:
            await notifier.stop()

    async def test_a_database_without_change_streams_is_polled(self, db, tier):
        notifier = await started(
            EventNotifier(db.database, open_when_watched=True, poll_s=0.05)
        )
        try:
            runner_id = await create_session(endpoints=["echo-a"])
            epoch = (await find_session(runner_id, "default")).created_epoch
            stream = follow_events(runner_id, after=0, notifier=notifier)
            first = asyncio.ensure_future(next_event(stream))
            await numbered_event("default", runner_id, epoch, "one")
            assert (await first).seq == 1
            await stream.aclose()
        finally:
            await notifier.stop()


class TestChangeStreamErrors:
    @pytest.mark.server_only
    async def test_a_broken_change_stream_is_opened_again_and_streams_miss_nothing(
        self, listened, caplog
    ):
        database, _ = listened
        breaking = BreakingDatabase(database.database)
        notifier = EventNotifier(breaking, poll_s=0.05)
        runner_id = await create_session(endpoints=["echo-a"])
        epoch = (await find_session(runner_id, "default")).created_epoch
        with caplog.at_level(logging.WARNING, logger="service.api.notifier"):
            await notifier.start()
            try:
                stream = follow_events(runner_id, after=0, notifier=notifier)
                first = asyncio.ensure_future(next_event(stream))
                await numbered_event("default", runner_id, epoch, "one")
                assert (await first).seq == 1
                await numbered_event("default", runner_id, epoch, "two")
                assert (await next_event(stream)).seq == 2
                async with asyncio.timeout(10):
                    await breaking.reopened.wait()
                    await notifier.until_streaming()
                await numbered_event("default", runner_id, epoch, "three")
                assert (await next_event(stream)).seq == 3
                await stream.aclose()
            finally:
                await notifier.stop()
        # Its history lost, the stream was opened afresh rather than from the dead token.
        assert breaking.opened[1] is None
        assert sum("change stream failed" in r.getMessage() for r in caplog.records) == 1


class TestSharedPoller:
    async def test_without_change_streams_many_streams_share_one_poller(self, db, tier):
        notifier = await started(EventNotifier(db.database, poll_s=0.05))
        try:
            # mongomock has no change streams; the real server is told not to use them below.
            assert notifier.streaming is (tier == "server")
        finally:
            await notifier.stop()
        notifier = await started(EventNotifier(db.database, change_streams=False, poll_s=0.05))
        try:
            runner_id = await create_session(endpoints=["echo-a"])
            epoch = (await find_session(runner_id, "default")).created_epoch
            streams = [follow_events(runner_id, after=0, notifier=notifier) for _ in range(10)]
            firsts = [asyncio.ensure_future(next_event(stream)) for stream in streams]
            await numbered_event("default", runner_id, epoch, "one")
            assert [event.seq for event in await asyncio.gather(*firsts)] == [1] * 10
            assert notifier.watched_sessions() == 1
            for stream in streams:
                await stream.aclose()
            assert notifier.watched_sessions() == 0
        finally:
            await notifier.stop()

    @pytest.mark.server_only
    async def test_many_streams_on_one_session_make_one_query_per_interval(self, listened):
        database, counter = listened
        poll_s = 0.1
        notifier = await started(EventNotifier(database.database, change_streams=False,
                                               poll_s=poll_s))
        try:
            runner_id = await create_session(endpoints=["echo-a"])
            streams = [follow_events(runner_id, after=0, notifier=notifier) for _ in range(20)]
            waiting = [asyncio.ensure_future(next_event(stream)) for stream in streams]
            await asyncio.sleep(0.5)
            counter.counts.clear()
            started_at = time.monotonic()
            await asyncio.sleep(2.0)
            elapsed = time.monotonic() - started_at
            polls = counter.of("find", "session_events")
            # One poller: about elapsed / poll_s finds (20 polling streams would make 20x).
            assert 1 <= polls <= elapsed / poll_s + 3, counter.counts
            assert not any(task.done() for task in waiting)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            for stream in streams:
                await stream.aclose()
        finally:
            await notifier.stop()


class TestSharedReads:
    @pytest.mark.server_only
    async def test_streams_woken_together_share_one_read_of_the_new_events(self, listened):
        database, counter = listened
        notifier = await started(EventNotifier(database.database))
        try:
            runner_id = await create_session(endpoints=["echo-a"])
            epoch = (await find_session(runner_id, "default")).created_epoch
            streams = [follow_events(runner_id, after=0, notifier=notifier) for _ in range(20)]
            waiting = [asyncio.ensure_future(next_event(stream)) for stream in streams]
            await asyncio.sleep(0.5)
            counter.counts.clear()
            await numbered_event("default", runner_id, epoch, "one")
            events = await asyncio.gather(*waiting)
            assert {(event.seq, event.data["status"]) for event in events} == {(1, "one")}
            # 20 streams reading each would make 20 finds; a wake or two is shared by all.
            assert counter.of("find", "session_events") <= 4, counter.counts
            for stream in streams:
                await stream.aclose()
        finally:
            await notifier.stop()
