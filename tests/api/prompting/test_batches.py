"""Reading a batch: what has landed so far, within a workspace; waiting for its end."""

import asyncio
import time

import pytest

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.batches import batch_key
from service.api.errors import NotFound
from service.api.notifier import EventNotifier
from service.api.prompting import (
    ProcessBatches,
    api_send_prompt,
    cancel_prompts,
    create_batch,
    get_batch,
    wait_for_batch,
)
from service.api.prompting.batches import read_task, task_outcomes
from tests.api.prompting.support import fake_endpoint
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import Behaviour


class TestWaitForBatch:
    async def test_past_the_wait_it_answers_what_has_landed(self, db, task_queue, fake_openai):
        fake_openai.behaviours["slow"] = Behaviour(latency_s=1.5)
        await fake_endpoint(fake_openai, "slow")
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a", "slow"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=0.8)
        assert not result.finished and result.status is BatchStatus.RUNNING
        assert list(result.current_chats) == ["echo-a"]
        assert result.current_status == "RUNNING"
        done = await wait_for_batch(runner_id, result.batch_id, 30)
        assert done.status is BatchStatus.DONE and list(done.current_chats) == ["echo-a", "slow"]


class TestTheWaitIsTold:
    """With a watch, the handler reads the batch when told of its end, not on a poll; the
    safety read is put an hour away, so an answer in seconds came from the telling."""

    @pytest.fixture(autouse=True)
    def no_safety_read(self, monkeypatch):
        monkeypatch.setattr("service.api.prompting.batches.SAFETY_READ_S", 3600.0)

    async def test_tasks_of_this_process_tell_the_end(self, db, task_queue):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        batches = task_queue.process_batches
        started = time.monotonic()
        result = await api_send_prompt(
            runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30, watch=batches.watch
        )
        assert result.status is BatchStatus.DONE and sorted(result.current_chats) == [
            "echo-a", "echo-b",
        ]
        assert time.monotonic() - started < 15
        assert batches.waiting() == 0

    async def test_untold_it_reads_only_at_the_end_of_its_wait(self, db, task_queue):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        # A watch no task tells: the batch ends at once, the wait learns it at its deadline.
        started = time.monotonic()
        result = await api_send_prompt(
            runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=1.0,
            watch=ProcessBatches().watch,
        )
        assert result.status is BatchStatus.DONE
        assert time.monotonic() - started >= 1.0

    async def test_through_the_session_events_when_tasks_run_elsewhere(self, db, task_queue):
        notifier = EventNotifier(db.database)
        await notifier.start()
        try:
            await create_endpoint("Echo A")
            runner_id = await create_session(endpoints=["echo-a"])
            started = time.monotonic()
            result = await api_send_prompt(
                runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30,
                watch=lambda workspace, session_id, key: notifier.subscribe(
                    workspace, session_id
                ),
            )
            assert result.status is BatchStatus.DONE
            assert time.monotonic() - started < 15
            assert notifier.watched_sessions() == 0
        finally:
            await notifier.stop()

    async def test_a_cancel_in_this_process_tells_the_waiting_handler(
        self, db, task_queue, fake_openai
    ):
        fake_openai.behaviours["slow"] = Behaviour(latency_s=20)
        await fake_endpoint(fake_openai, "slow", timeout=30)
        runner_id = await create_session(endpoints=["slow"])
        batches = task_queue.process_batches
        queued = asyncio.Event()

        async def enqueue(task_ids, place=None):
            await task_queue.enqueue(task_ids, place)
            queued.set()

        waiting = asyncio.create_task(api_send_prompt(
            runner_id, "Hi", enqueue=enqueue, wait_s=60, watch=batches.watch
        ))
        # Stored and queued, and its handler waiting (it watches from just before queueing).
        async with asyncio.timeout(15):
            await queued.wait()
        assert batches.waiting() == 1
        started = time.monotonic()
        (cancelled,) = await cancel_prompts(runner_id, ended=batches.ended)
        result = await asyncio.wait_for(waiting, 15)
        assert result.batch_id == cancelled and result.status is BatchStatus.CANCELLED
        assert time.monotonic() - started < 15

    async def test_another_workspaces_end_does_not_wake_it(self, db, task_queue):
        await create_endpoint("Echo A", workspace="team-a")
        runner_id = await create_session(endpoints=["echo-a"], workspace="team-a")
        batches = task_queue.process_batches
        with batches.watch("team-a", runner_id, "team-a|b1") as end:
            # An attacker in team-b ending a batch of the same id tells team-a's waiter nothing.
            batches.ended("team-b|b1")
            assert not end.pending().is_set()


class TestGetBatch:
    async def test_workspaces_are_apart(self, db, task_queue):
        await create_endpoint("Echo A", workspace="team-a")
        runner_id = await create_session(endpoints=["echo-a"], workspace="team-a")
        result = await api_send_prompt(
            runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30, workspace="team-a"
        )
        with pytest.raises(NotFound):
            await get_batch(runner_id, result.batch_id, workspace="team-b")
        with pytest.raises(NotFound):
            await cancel_prompts(runner_id, workspace="team-b")


class TestReadTogether:
    """Tasks read, and a batch's outcomes read, by many callers at once: each gets what is
    stored for it, as stored after its own last write."""

    async def test_each_reader_gets_its_own_task_and_none_for_a_missing_one(self, db):
        for name in ("Echo A", "Echo B", "Echo C"):
            await create_endpoint(name)
        runner_id = await create_session(endpoints=["echo-a", "echo-b", "echo-c"])
        _, task_ids = await create_batch(runner_id, "Hi")
        wanted = [*task_ids, "default|no-such-batch|echo-a", task_ids[0]]
        tasks = await asyncio.gather(*(read_task(task_id) for task_id in wanted))
        assert [None if task is None else task.id for task in tasks] == [
            *task_ids, None, task_ids[0],
        ]
        assert [task.endpoint for task in tasks[:3]] == ["echo-a", "echo-b", "echo-c"]

    async def test_outcomes_read_after_each_callers_write(self, db):
        for name in ("Echo A", "Echo B"):
            await create_endpoint(name)
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        batch, task_ids = await create_batch(runner_id, "Hi")
        stored = await PromptBatch.get(batch_key("default", batch))

        async def end_then_read(task_id: str) -> list[TaskStatus]:
            await PromptTask.get_pymongo_collection().update_one(
                {"_id": task_id}, {"$set": {"status": TaskStatus.DONE.value}}
            )
            return [outcome.status for outcome in await task_outcomes(stored)]

        first, second = await asyncio.gather(*(end_then_read(task_id) for task_id in task_ids))
        # Whichever wrote last, its read saw both ends.
        assert TaskStatus.QUEUED not in first or TaskStatus.QUEUED not in second
        assert [outcome.status for outcome in await task_outcomes(stored)] == [
            TaskStatus.DONE, TaskStatus.DONE,
        ]
