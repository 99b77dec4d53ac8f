"""Each step of a task or batch is taken only from the status it leaves, by one caller."""

import asyncio

import pytest

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.batches import batch_key
from service.api.prompting import create_batch
from service.api.prompting.transitions import (
    cancel_tasks,
    end_appended,
    hold_record,
    mark_done,
    move_batch,
    note_appended,
    start_batch,
)
from tests.factories import create_endpoint, create_session

RECORD = {"chat_record_id": 1, "conn_id": "echo-a", "prompt": "Hi", "prepared_prompt": "Hi",
          "predicted_result": "Hi", "prompt_time": "2026-11-25 09:00:00"}


async def stored_task(status: TaskStatus) -> str:
    await create_endpoint("Echo A")
    runner_id = await create_session(endpoints=["echo-a"])
    _, (task_id,) = await create_batch(runner_id, "Hi")
    await PromptTask.get_pymongo_collection().update_one(
        {"_id": task_id}, {"$set": {"status": status.value}}
    )
    return task_id


async def status_of(task_id: str) -> TaskStatus:
    task = await PromptTask.get(task_id)
    assert task is not None
    return task.status


class TestHoldRecord:
    @pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.RUNNING])
    async def test_from_queued_or_running_as_earlier_versions_left_it(self, db, status):
        task_id = await stored_task(status)
        assert await hold_record(task_id, RECORD, "")
        assert await status_of(task_id) is TaskStatus.APPENDING

    @pytest.mark.parametrize(
        "status", [TaskStatus.APPENDING, TaskStatus.DONE, TaskStatus.CANCELLED]
    )
    async def test_never_once_it_has_left_them(self, db, status):
        task_id = await stored_task(status)
        assert not await hold_record(task_id, RECORD, "")
        task = await PromptTask.get(task_id)
        assert task is not None and task.status is status and task.record is None

    async def test_only_one_of_two_copies_moves_it_to_appending(self, db):
        task_id = await stored_task(TaskStatus.RUNNING)
        moved = await asyncio.gather(
            hold_record(task_id, RECORD, ""),
            hold_record(task_id, {**RECORD, "predicted_result": "other"}, ""),
        )
        assert sorted(moved) == [False, True]
        task = await PromptTask.get(task_id)
        assert task is not None and task.status is TaskStatus.APPENDING
        assert task.record is not None and task.record["chat_record_id"] == 1

    async def test_not_after_a_cancel(self, db):
        task_id = await stored_task(TaskStatus.RUNNING)
        await cancel_tasks([task_id])
        assert not await hold_record(task_id, RECORD, "")
        task = await PromptTask.get(task_id)
        assert task is not None and task.status is TaskStatus.CANCELLED and task.record is None


class TestCancelTasks:
    async def test_leaves_a_task_that_is_appending(self, db):
        task_id = await stored_task(TaskStatus.RUNNING)
        assert await hold_record(task_id, RECORD, "")
        await cancel_tasks([task_id])
        assert await status_of(task_id) is TaskStatus.APPENDING
        await mark_done(task_id)
        assert await status_of(task_id) is TaskStatus.DONE


class TestMarkDone:
    async def test_only_from_appending(self, db):
        task_id = await stored_task(TaskStatus.CANCELLED)
        await mark_done(task_id)
        assert await status_of(task_id) is TaskStatus.CANCELLED


    async def test_tasks_ending_together_each_move_from_appending_only(self, db):
        for name in ("Echo A", "Echo B", "Echo C"):
            await create_endpoint(name)
        runner_id = await create_session(endpoints=["echo-a", "echo-b", "echo-c"])
        _, task_ids = await create_batch(runner_id, "Hi")
        statuses = [TaskStatus.APPENDING, TaskStatus.CANCELLED, TaskStatus.APPENDING]
        for task_id, status in zip(task_ids, statuses, strict=True):
            await PromptTask.get_pymongo_collection().update_one(
                {"_id": task_id}, {"$set": {"status": status.value}}
            )
        await asyncio.gather(*(mark_done(task_id) for task_id in task_ids))
        assert [await status_of(task_id) for task_id in task_ids] == [
            TaskStatus.DONE, TaskStatus.CANCELLED, TaskStatus.DONE,
        ]


class TestMoveBatch:
    async def test_from_the_given_statuses_only_stamping_a_final_one(self, db):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        key = batch_key("default", batch_id)
        assert not await move_batch(key, BatchStatus.DONE, from_=(BatchStatus.RUNNING,))
        assert await move_batch(key, BatchStatus.RUNNING, from_=(BatchStatus.QUEUED,))
        batch = await PromptBatch.get(key)
        assert batch is not None and batch.finished_at is None
        assert await move_batch(key, BatchStatus.DONE, from_=(BatchStatus.RUNNING,))
        batch = await PromptBatch.get(key)
        assert batch is not None and batch.status is BatchStatus.DONE and batch.finished_at

    async def test_of_callers_moving_it_together_exactly_one_moved_it(self, db):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        key = batch_key("default", batch_id)
        unfinished = (BatchStatus.QUEUED, BatchStatus.RUNNING)
        moved = await asyncio.gather(
            *(move_batch(key, BatchStatus.DONE, from_=unfinished) for _ in range(4)),
            move_batch(key, BatchStatus.CANCELLED, from_=unfinished),
        )
        # One of the two moves won, and one caller of it.
        assert moved.count(True) == 1
        batch = await PromptBatch.get(key)
        assert batch is not None
        assert batch.status is (BatchStatus.DONE if any(moved[:4]) else BatchStatus.CANCELLED)


class TestStartBatch:
    async def test_only_from_queued_answering_the_batch(self, db):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        key = batch_key("default", batch_id)
        started = await asyncio.gather(start_batch(key), start_batch(key))
        assert [batch is not None for batch in started].count(True) == 1
        (batch,) = [batch for batch in started if batch is not None]
        assert batch.status is BatchStatus.RUNNING and batch.user_prompt == "Hi"
        assert await start_batch(batch_key("other", batch_id)) is None


class TestNoteAppended:
    async def test_each_endpoint_once_and_ending_only_appending_tasks(self, db):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        batch_id, (task_a, task_b) = await create_batch(runner_id, "Hi")
        key = batch_key("default", batch_id)
        for _ in range(2):
            noted = await note_appended(key, "echo-a")
            assert noted is not None and noted.batch.ended == ["echo-a"]
            assert not noted.completes
        noted = await note_appended(key, "echo-b")
        assert noted is not None and sorted(noted.batch.ended) == ["echo-a", "echo-b"]
        assert noted.completes
        assert await note_appended(batch_key("other", batch_id), "echo-a") is None
        await PromptTask.get_pymongo_collection().update_one(
            {"_id": task_a}, {"$set": {"status": TaskStatus.APPENDING.value}}
        )
        await cancel_tasks([task_b])
        await end_appended([task_a, task_b])
        assert await status_of(task_a) is TaskStatus.DONE
        assert await status_of(task_b) is TaskStatus.CANCELLED

    async def test_of_tasks_noting_one_batch_together_one_is_told_it_completes_it(self, db):
        names = ["Echo A", "Echo B", "Echo C"]
        for name in names:
            await create_endpoint(name)
        runner_id = await create_session(endpoints=["echo-a", "echo-b", "echo-c"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        key = batch_key("default", batch_id)
        noted = await asyncio.gather(*(
            note_appended(key, endpoint) for endpoint in ["echo-a", "echo-b", "echo-c", "echo-a"]
        ))
        assert all(note is not None for note in noted)
        # Each caller sees its own note, whichever command carried it.
        for note in noted:
            assert note is not None and {"echo-a", "echo-b", "echo-c"} <= set(note.batch.ended)
        assert [note.completes for note in noted if note is not None].count(True) == 1
        stored = await PromptBatch.get(key)
        assert stored is not None and sorted(stored.ended) == ["echo-a", "echo-b", "echo-c"]

    async def test_notes_of_a_batch_deleted_meanwhile_are_none_together(self, db):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        missing = batch_key("default", batch_id + "-gone")
        assert await asyncio.gather(
            note_appended(missing, "echo-a"), note_appended(missing, "echo-b")
        ) == [None, None]
