"""Attack-mode progress in Moonshot's shape, read from the stored events, on both tiers."""

import asyncio

from service.api import api_delete_session
from service.api.registries import configure_entry
from service.api.runs import start_run
from service.api.ui_callback import COMPLETED, RUNNING, run_progress
from tests.factories import create_endpoint, create_session

BODY_KEYS = {"current_runner_id", "current_chats", "current_batch_size", "current_status"}
ATTACK = "sample_attack_module"
# Generous: a follower that never ends fails the test instead of hanging it.
FOLLOW_TIMEOUT_S = 60.0


async def attack_session(endpoint_count: int, prompts: int = 1) -> tuple[str, list[str]]:
    # One attack prompt at a time, so records land in id order.
    await configure_entry(
        "attack-module", ATTACK,
        configurations={"max_iteration": prompts, "parallel_prompts": 1},
    )
    endpoints = [await create_endpoint(f"echo-{number}") for number in range(endpoint_count)]
    runner_id = await create_session(endpoints=endpoints, runner_args={"attack_module": ATTACK})
    return runner_id, endpoints


async def all_bodies(started, **options) -> list[dict]:
    async def collect() -> list[dict]:
        return [body async for body in run_progress(started, **options)]

    return await asyncio.wait_for(collect(), FOLLOW_TIMEOUT_S)


async def started_run(runner_id: str, prompt: str, task_queue):
    started = await start_run(runner_id, prompt)
    await task_queue.kick_run("default", runner_id, started.run_id)
    return started


class TestRunProgress:
    async def test_every_five_records_then_completed(self, db, task_queue):
        runner_id, endpoints = await attack_session(7)
        started = await started_run(runner_id, "Hi", task_queue)
        bodies = await all_bodies(started)
        assert [body["current_status"] for body in bodies] == [RUNNING, COMPLETED]
        assert all(set(body) == BODY_KEYS for body in bodies)
        assert all(body["current_runner_id"] == runner_id for body in bodies)
        assert all(body["current_batch_size"] == 5 for body in bodies)
        counts = [sum(map(len, body["current_chats"].values())) for body in bodies]
        assert counts == [5, 2]
        landed = [
            endpoint
            for body in bodies for endpoint, records in body["current_chats"].items()
            for _ in records
        ]
        assert sorted(landed) == sorted(endpoints)
        assert all(
            record["conn_id"] == endpoint and record["prompt"] == "Hi"
            and record["run_id"] == started.run_id
            for body in bodies for endpoint, records in body["current_chats"].items()
            for record in records
        )

    async def test_a_smaller_batch_size_posts_in_order(self, db, task_queue):
        runner_id, _ = await attack_session(1, prompts=3)
        started = await started_run(runner_id, "Hi", task_queue)
        bodies = await all_bodies(started, chat_batch_size=1)
        assert [body["current_status"] for body in bodies] == [RUNNING] * 3 + [COMPLETED]
        assert bodies[-1]["current_chats"] == {}
        ids = [body["current_chats"]["echo-0"][0]["chat_record_id"] for body in bodies[:-1]]
        assert ids == [1, 2, 3]

    async def test_other_runs_of_the_session_are_left_out(self, db, task_queue):
        runner_id, _ = await attack_session(2)
        earlier = await started_run(runner_id, "earlier", task_queue)
        await task_queue.wait_idle()
        started = await started_run(runner_id, "mine", task_queue)
        assert started.after > earlier.after
        bodies = await all_bodies(started)
        prompts = {
            record["prompt"]
            for body in bodies for records in body["current_chats"].values() for record in records
        }
        assert prompts == {"mine"}

    async def test_ends_completed_when_the_session_is_deleted(self, db):
        runner_id, _ = await attack_session(1)
        # Stored but never stepped: only the deletion can end the follower.
        started = await start_run(runner_id, "Hi")
        follower = asyncio.create_task(all_bodies(started))
        await api_delete_session(runner_id)
        bodies = await follower
        assert bodies[-1]["current_status"] == COMPLETED
