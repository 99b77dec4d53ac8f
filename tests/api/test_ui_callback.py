"""Attack-mode progress in Moonshot's shape, read from the stored events, on both tiers."""

import asyncio

import pytest

from models import PromptBatch
from models.batches import batch_key
from service.api import api_delete_session, api_get_all_chats_from_session
from service.api.errors import NotFound
from service.api.ui_callback import COMPLETED, RUNNING, batch_progress, start_batch
from tests.factories import create_endpoint, create_session

BODY_KEYS = {"current_runner_id", "current_chats", "current_batch_size", "current_status"}
ATTACK = "sample_attack_module"
# Generous: a follower that never ends fails the test instead of hanging it.
FOLLOW_TIMEOUT_S = 60.0


async def attack_session(endpoint_count: int) -> tuple[str, list[str]]:
    endpoints = [await create_endpoint(f"echo-{number}") for number in range(endpoint_count)]
    runner_id = await create_session(endpoints=endpoints, runner_args={"attack_module": ATTACK})
    return runner_id, endpoints


async def all_bodies(started, **options) -> list[dict]:
    async def collect() -> list[dict]:
        return [body async for body in batch_progress(started, **options)]

    return await asyncio.wait_for(collect(), FOLLOW_TIMEOUT_S)


class TestStartBatch:
    async def test_stores_and_queues_without_waiting(self, db, task_queue):
        runner_id, endpoints = await attack_session(2)
        started = await start_batch(runner_id, "Hi", enqueue=task_queue.enqueue)
        assert started.runner_id == runner_id and started.after >= 0
        assert await PromptBatch.get(batch_key("default", started.batch_id)) is not None
        await task_queue.wait_idle()
        chats = await api_get_all_chats_from_session(runner_id)
        assert sorted(chats) == sorted(endpoints)
        assert all(records[0]["attack_module"] == ATTACK for records in chats.values())

    async def test_an_unknown_session_is_not_found(self, db, task_queue):
        with pytest.raises(NotFound):
            await start_batch("no-such-session", "Hi", enqueue=task_queue.enqueue)


class TestBatchProgress:
    async def test_every_five_records_then_completed(self, db, task_queue):
        runner_id, endpoints = await attack_session(7)
        started = await start_batch(runner_id, "Hi", enqueue=task_queue.enqueue)
        bodies = await all_bodies(started)
        assert [body["current_status"] for body in bodies] == [RUNNING, COMPLETED]
        assert all(set(body) == BODY_KEYS for body in bodies)
        assert all(body["current_runner_id"] == runner_id for body in bodies)
        assert all(body["current_batch_size"] == 5 for body in bodies)
        counts = [sum(map(len, body["current_chats"].values())) for body in bodies]
        assert counts == [5, 2]
        landed = [
            (endpoint, record["chat_record_id"])
            for body in bodies for endpoint, records in body["current_chats"].items()
            for record in records
        ]
        assert sorted(endpoint for endpoint, _ in landed) == sorted(endpoints)
        assert all(
            record["conn_id"] == endpoint and record["prompt"] == "Hi"
            for body in bodies for endpoint, records in body["current_chats"].items()
            for record in records
        )

    async def test_a_smaller_batch_size_posts_in_order(self, db, task_queue):
        runner_id, _ = await attack_session(3)
        started = await start_batch(runner_id, "Hi", enqueue=task_queue.enqueue)
        bodies = await all_bodies(started, chat_batch_size=1)
        assert [body["current_status"] for body in bodies] == [RUNNING] * 3 + [COMPLETED]
        assert bodies[-1]["current_chats"] == {}

    async def test_other_batches_of_the_session_are_left_out(self, db, task_queue):
        runner_id, _ = await attack_session(2)
        earlier = await start_batch(runner_id, "earlier", enqueue=task_queue.enqueue)
        await task_queue.wait_idle()
        started = await start_batch(runner_id, "mine", enqueue=task_queue.enqueue)
        assert started.after > earlier.after
        bodies = await all_bodies(started)
        prompts = {
            record["prompt"]
            for body in bodies for records in body["current_chats"].values() for record in records
        }
        assert prompts == {"mine"}

    async def test_ends_completed_when_the_session_is_deleted(self, db, task_queue):
        runner_id, _ = await attack_session(1)
        # Stored but never queued: only the deletion can end the follower.
        started = await start_batch(runner_id, "Hi", enqueue=_queue_nothing)
        follower = asyncio.create_task(all_bodies(started))
        await api_delete_session(runner_id)
        bodies = await follower
        assert bodies[-1]["current_status"] == COMPLETED


async def _queue_nothing(task_ids: object) -> None:
    """An enqueue that leaves the tasks stored and unqueued."""
