"""The session event log: stored, numbered, replayable from any number."""

import asyncio
import time

import pytest

from models import EventKind, SessionEvent
from service.api.errors import InvalidInput
from service.api.events import Event, follow_events, last_event_seq, log_event
from service.api.prompting import api_send_prompt
from service.api.sessions.runners import delete_runner
from service.api.sessions.store import find_session
from service.http import create_app
from tests.factories import create_endpoint, create_session
from tests.support.http_client import asgi_client


async def take(events, count: int, timeout_s: float = 10) -> list[Event]:
    taken: list[Event] = []
    async with asyncio.timeout(timeout_s):
        async for event in events:
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def prompted_session(task_queue, prompts: int = 1) -> str:
    await create_endpoint("Echo A")
    await create_endpoint("Echo B")
    runner_id = await create_session(endpoints=["echo-a", "echo-b"])
    for number in range(prompts):
        result = await api_send_prompt(
            runner_id, f"Prompt {number}", enqueue=task_queue.enqueue, wait_s=30
        )
        assert result.finished
    # A batch's final status is stored before its event is logged: wait for the workers, so
    # every event of these prompts is in the log.
    await task_queue.wait_idle()
    return runner_id


class TestFollowEvents:
    async def test_a_batch_logs_its_statuses_and_each_record_in_order(self, db, task_queue):
        runner_id = await prompted_session(task_queue)
        events = await take(follow_events(runner_id, after=0), 5)
        assert [event.seq for event in events] == [1, 2, 3, 4, 5]
        names = [(event.name, event.data.get("status")) for event in events]
        assert names[:2] == [("batch", "queued"), ("batch", "running")]
        assert names[-1] == ("batch", "done")
        records = [event.data for event in events if event.name == "chat_record"]
        assert sorted(record["conn_id"] for record in records) == ["echo-a", "echo-b"]
        assert all(record["chat_record"]["prompt"] == "Prompt 0" for record in records)
        assert {event.data["batch_id"] for event in events} == {records[0]["batch_id"]}

    async def test_resumes_after_the_last_number_seen(self, db, task_queue):
        runner_id = await prompted_session(task_queue, prompts=2)
        everything = await take(follow_events(runner_id, after=0), 10)
        resumed = await take(follow_events(runner_id, after=4), 6)
        assert resumed == everything[4:]

    async def test_a_replay_without_a_number_gives_every_stored_event(self, db, task_queue):
        runner_id = await prompted_session(task_queue, prompts=2)
        everything = await take(follow_events(runner_id, after=0), 10)
        replay = [event async for event in follow_events(runner_id, follow=False)]
        assert [event.seq for event in replay] == list(range(1, 11))
        assert replay == everything

    async def test_without_a_number_it_starts_from_now(self, db, task_queue):
        runner_id = await prompted_session(task_queue)
        last = await last_event_seq(runner_id)
        stream = follow_events(runner_id, poll_s=0.02, heartbeat_s=0.01)
        # A heartbeat before any event: the stream has taken its place ("now") already.
        assert await anext(stream) is None
        await api_send_prompt(runner_id, "Later", enqueue=task_queue.enqueue, wait_s=30)
        first = await anext(stream)
        while first is None:
            first = await anext(stream)
        assert first.seq == last + 1
        await stream.aclose()

    async def test_waits_for_a_missing_number_then_moves_on(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        epoch = (await find_session(runner_id, "default")).created_epoch
        await log_event("default", runner_id, epoch, "batch|b|queued", EventKind.BATCH, "b",
                        status="queued")
        # Number 2 handed out to a writer that never wrote it.
        await log_event("default", runner_id, epoch, "x", EventKind.BATCH, "b", status="x")
        await SessionEvent.get_pymongo_collection().delete_one({"seq": 2})
        await log_event("default", runner_id, epoch, "batch|b|done", EventKind.BATCH, "b",
                        status="done")
        started = time.monotonic()
        events = await take(follow_events(runner_id, after=0, poll_s=0.02, gap_wait_s=0.3), 2)
        assert [event.seq for event in events] == [1, 3]
        assert time.monotonic() - started >= 0.3

    async def test_a_fact_is_logged_once(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        epoch = (await find_session(runner_id, "default")).created_epoch
        for _ in range(3):
            await log_event("default", runner_id, epoch, "batch|b|done", EventKind.BATCH, "b",
                            status="done")
        await log_event("default", runner_id, epoch, "batch|b|next", EventKind.BATCH, "b",
                        status="next")
        assert await SessionEvent.find(SessionEvent.fact == "batch|b|done").count() == 1
        # The numbers the second and third writer took are void: a reader steps over them at
        # once, where it would wait `gap_wait_s` on a missing one.
        started = time.monotonic()
        events = await take(follow_events(runner_id, after=0, follow=False, gap_wait_s=30), 5)
        assert [(event.seq, event.data["status"]) for event in events] == [
            (1, "done"), (4, "next"),
        ]
        assert time.monotonic() - started < 10

    async def test_events_logged_together_are_numbered_in_order_without_gaps(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        epoch = (await find_session(runner_id, "default")).created_epoch
        facts = [f"batch|b{number}|done" for number in range(6)]
        # One of them twice: its second number goes to a void event, still without a gap.
        await asyncio.gather(*(
            log_event("default", runner_id, epoch, fact, EventKind.BATCH, "b", status=fact)
            for fact in [*facts, facts[2]]
        ))
        stored = await SessionEvent.find(SessionEvent.session_id == runner_id).to_list()
        assert sorted(event.seq for event in stored) == list(range(1, 8))
        assert await last_event_seq(runner_id) == 7
        kept = sorted((event.seq, event.fact) for event in stored if event.kind is EventKind.BATCH)
        assert [fact for _, fact in kept] == facts
        assert [event.kind for event in stored].count(EventKind.VOID) == 1
        events = await take(follow_events(runner_id, after=0, follow=False, gap_wait_s=30), 6)
        assert [event.data["status"] for event in events] == facts

    async def test_an_event_is_stored_with_its_number(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        await log_event("default", runner_id, "1", "batch|b|done", EventKind.BATCH, "b",
                        status="done")
        stored = await SessionEvent.get_pymongo_collection().find_one({"fact": "batch|b|done"})
        assert stored["seq"] == await last_event_seq(runner_id) == 1

    async def test_a_fact_its_writer_left_unnumbered_is_numbered_by_the_next(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        # Stored a minute ago by a writer that died before numbering it.
        await SessionEvent.get_pymongo_collection().insert_one({
            "_id": f"default|{runner_id}|batch|b|done", "workspace": "default",
            "session_id": runner_id, "session_epoch": "1", "fact": "batch|b|done",
            "kind": "batch", "batch_id": "b", "status": "done", "at": time.time() - 60,
        })
        await log_event("default", runner_id, "1", "batch|b|done", EventKind.BATCH, "b",
                        status="done")
        stored = await SessionEvent.get_pymongo_collection().find_one({"fact": "batch|b|done"})
        assert stored["seq"] == 1

    async def test_ends_when_the_session_is_deleted(self, db, task_queue):
        runner_id = await prompted_session(task_queue)
        stream = follow_events(runner_id, poll_s=0.02, session_check_s=0.05)
        await delete_runner(runner_id)
        assert await take(stream, 1) == []

    async def test_a_session_made_again_does_not_replay_the_old_one(self, db, task_queue):
        runner_id = await prompted_session(task_queue)
        await delete_runner(runner_id)
        await create_session(runner_id, ["echo-a"])
        result = await api_send_prompt(runner_id, "New", enqueue=task_queue.enqueue, wait_s=30)
        events = await take(follow_events(runner_id, after=0), 4)
        assert all(event.data["batch_id"] == result.batch_id for event in events)
        assert events[0].seq > 5

    async def test_bad_numbers_and_unknown_sessions(self, db):
        with pytest.raises(InvalidInput) as raised:
            await take(follow_events("anything", after=-1), 1)
        assert raised.value.field == "last_event_id"
        assert await take(follow_events("nope", after=0), 1) == []


class TestEventsRoute:
    async def test_follow_false_without_a_number_replays_every_stored_event(
        self, db, task_queue, settings
    ):
        runner_id = await prompted_session(task_queue)
        async with asgi_client(create_app(settings, database=db)) as client:
            replay = await client.get(
                f"/api/v1/sessions/{runner_id}/events", params={"follow": "false"}
            )
        assert replay.status_code == 200, replay.text
        ids = [int(line[4:]) for line in replay.text.splitlines() if line.startswith("id: ")]
        assert ids == [1, 2, 3, 4, 5]
        names = [line[7:] for line in replay.text.splitlines() if line.startswith("event: ")]
        assert names.count("chat_record") == 2 and names[-1] == "batch"
