"""Following a session's events through a database outage: the stream waits with backoff,
says so, and goes on from the last event it gave once the database is back."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from models import EventKind
from service.api.errors import InvalidInput
from service.api.events import (
    Event,
    Outage,
    follow_events,
    follow_events_telling_outages,
    log_event,
)
from service.api.notifier import EventNotifier
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.lifecycle import api_delete_session
from service.api.sessions.store import find_session
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_session
from tests.support.stoppable_database import StoppableDatabase, stoppable_database

# Every wait below ends on something the stream gives; this only bounds a broken one.
TIMEOUT_S = 60


@pytest.fixture
async def outage(tmp_path) -> AsyncIterator[StoppableDatabase]:
    async with stoppable_database(tmp_path, bucket_size=TEST_BUCKET_SIZE) as database:
        yield database


async def logger(runner_id: str):
    epoch = (await find_session(runner_id, DEFAULT_WORKSPACE)).created_epoch

    async def log(fact: str) -> None:
        await log_event(
            DEFAULT_WORKSPACE, runner_id, epoch, fact, EventKind.BATCH, "b", status=fact
        )

    return log


async def next_of(stream: AsyncIterator, kind: type) -> object:
    async with asyncio.timeout(TIMEOUT_S):
        async for item in stream:
            if isinstance(item, kind):
                return item
    raise AssertionError(f"the stream ended before a {kind.__name__}")


class TestFollowEventsTellingOutages:
    async def test_tells_each_wait_doubling_to_the_most_then_goes_on(
        self, outage: StoppableDatabase
    ):
        runner_id = await create_session("waits")
        log = await logger(runner_id)
        await log("one")
        stream = follow_events_telling_outages(
            runner_id, after=0, poll_s=0.02, outage_retry_s=0.05, outage_retry_max_s=0.2
        )
        try:
            first = await next_of(stream, Event)
            assert first.seq == 1
            await outage.stop()
            waits = [(await next_of(stream, Outage)).retry_s for _ in range(4)]
            assert waits == [0.05, 0.1, 0.2, 0.2]
            await outage.start()
            await log("two")
            await log("three")
            resumed = [await next_of(stream, Event), await next_of(stream, Event)]
            assert [(event.seq, event.data["status"]) for event in resumed] == [
                (2, "two"), (3, "three")
            ]
        finally:
            await stream.aclose()

    async def test_a_stream_woken_by_the_notifier_learns_of_the_outage_and_lets_go_on_close(
        self, outage: StoppableDatabase
    ):
        runner_id = await create_session("woken")
        log = await logger(runner_id)
        notifier = EventNotifier(outage.database.database)
        await notifier.start()
        stream = follow_events_telling_outages(
            runner_id, after=0, notifier=notifier, outage_retry_s=0.05, outage_retry_max_s=0.1
        )
        try:
            # Idle: waiting on the notifier, not polling; the outage must wake it.
            waiting = asyncio.ensure_future(next_of(stream, Outage))
            await notifier.until_streaming()
            await outage.stop()
            told = await waiting
            assert told.retry_s == 0.05
            await outage.start()
            await log("after")
            event = await next_of(stream, Event)
            assert event.data["status"] == "after"
        finally:
            await stream.aclose()
            await notifier.stop()
        assert notifier.watched_sessions() == 0

    async def test_a_session_deleted_meanwhile_ends_the_stream(
        self, outage: StoppableDatabase
    ):
        runner_id = await create_session("gone")
        stream = follow_events_telling_outages(
            runner_id, poll_s=0.02, session_check_s=0.05, outage_retry_s=0.05,
            outage_retry_max_s=0.1,
        )
        await outage.stop()
        outage_told = await next_of(stream, Outage)
        assert isinstance(outage_told, Outage)
        await outage.start()
        await api_delete_session(runner_id)
        async with asyncio.timeout(TIMEOUT_S):
            rest = [item async for item in stream]
        assert not any(isinstance(item, Event) for item in rest)

    async def test_a_negative_last_event_id_is_refused_before_the_database_is_asked(
        self, outage: StoppableDatabase
    ):
        await outage.stop()
        with pytest.raises(InvalidInput, match="0 or more"):
            await anext(follow_events_telling_outages("any", after=-1))


class TestFollowEvents:
    async def test_rides_out_an_outage_without_telling(self, outage: StoppableDatabase):
        runner_id = await create_session("quiet")
        log = await logger(runner_id)
        await log("one")
        stream = follow_events(runner_id, after=0, poll_s=0.02)
        try:
            assert (await next_of(stream, Event)).seq == 1
            await outage.stop()
            # What a reader of this stream gets meanwhile: nothing, and no error.
            pending = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({pending}, timeout=1.5)
            assert done == set()
            await outage.start()
            await log("two")
            async with asyncio.timeout(TIMEOUT_S):
                event = await pending
            assert isinstance(event, Event)
            assert (event.seq, event.data["status"]) == (2, "two")
        finally:
            await stream.aclose()
