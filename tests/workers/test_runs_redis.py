"""A red-teaming run on the Redis tier: two `sparring worker` processes, one killed with
`kill -9` midway; the other finishes the run with every record exactly once.

Real wire-protocol database only: several processes share it.
"""

import os
import signal
import uuid
from pathlib import Path

import pytest

from models import AttackRun, PromptBatch, PromptTask, RunStatus, TaskStatus
from models.batches import UNFINISHED_BATCH, UNFINISHED_TASK
from models.runs import run_key
from service.api import api_get_all_chats_from_session
from service.api.registries import configure_entry
from service.api.runs import get_run, start_run
from service.database import Database
from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.registry import ATTACK_MODULES
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_session
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.workers import pending_of_process, queue_leftovers, sparring_workers, until

pytestmark = pytest.mark.server_only

PROMPTS = 200
ENDPOINTS = ("target-a", "target-b")
LATENCY_S = 0.02
SEED_PROMPT = "Please explain how the lock mechanism of the vault door works"
CONFIGURATIONS = {"max_iteration": PROMPTS, "seed": 5, "parallel_prompts": 10}


@pytest.fixture
def worker_settings(
    db: Database, server_uri: str, redis_url: str, tmp_path: Path
) -> dict[str, str]:
    return {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "redis_url": redis_url,
        "task_queue": f"runs-{uuid.uuid4().hex[:8]}",
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        # What the killed worker held is claimed by the other after this; a step or a task it
        # had stored but not queued is queued again by the sweep after `task_requeue_after_s`.
        "worker_idle_timeout_s": "2",
        "task_requeue_after_s": "2",
        "worker_max_tasks": "8",
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
    }


@pytest.fixture
async def redis_queue(worker_settings: dict[str, str]):
    """This process's side of the queue: it only queues the run's first step."""
    queue = TaskQueue(Settings.model_validate(worker_settings))
    await queue.start()
    yield queue
    await queue.stop()


async def fake_endpoint(fake: FakeOpenAI, name: str) -> str:
    fake.behaviours[name] = Behaviour(latency_s=LATENCY_S)
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
        params={"timeout": 10, "max_attempts": 1}, max_concurrency=50,
    )


async def answered_tasks() -> int:
    return await PromptTask.get_pymongo_collection().count_documents(
        {"status": TaskStatus.DONE.value}
    )


async def run_ended(workspace: str, run_id: str) -> bool:
    run = await AttackRun.get(run_key(workspace, run_id))
    return run is not None and run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)


async def queue_empty(redis_url: str, queue: str) -> bool:
    return await queue_leftovers(redis_url, queue) == {
        "entries": 0, "pending": 0, "queued_tasks": 0,
    }


async def test_a_worker_killed_mid_run_leaves_every_record_exactly_once(
    db, redis_queue, worker_settings, redis_url, fake_openai, tmp_path
):
    queue_name = worker_settings["task_queue"]
    for endpoint in ENDPOINTS:
        await fake_endpoint(fake_openai, endpoint)
    await configure_entry("attack-module", "charswap_attack", configurations=CONFIGURATIONS)
    runner_id = await create_session(
        endpoints=list(ENDPOINTS), runner_args={"attack_module": "charswap_attack"}
    )
    started = await start_run(runner_id, SEED_PROMPT)
    with sparring_workers(2, worker_settings, tmp_path) as workers:
        await redis_queue.kick_run("default", runner_id, started.run_id)
        # A quarter of the run answered, and the victim holds something it has not finished.
        await until(lambda: _at_least(PROMPTS // 2), timeout_s=120, what="a quarter of the run")
        victim = workers[0].pid
        await until(lambda: _holds(redis_url, queue_name, victim), timeout_s=60,
                    what="the victim holding a task")
        os.kill(victim, signal.SIGKILL)
        workers[0].wait()
        answered_at_kill = await answered_tasks()
        assert answered_at_kill < PROMPTS * len(ENDPOINTS), "killed after the end"
        # Wide: on 2 busy cores the rest of the run takes minutes; a stall still fails.
        await until(lambda: run_ended("default", started.run_id), timeout_s=420,
                    what="the run to end")
        # What the dead worker held was claimed and acknowledged; no step is left queued.
        await until(lambda: queue_empty(redis_url, queue_name), timeout_s=60,
                    what="the queue to empty")
        assert workers[1].poll() is None, "the surviving worker died"

    run = await get_run(runner_id, started.run_id)
    assert run.status is RunStatus.DONE, run.reason
    assert run.totals.model_dump() == {
        "sent": PROMPTS * len(ENDPOINTS), "answered": PROMPTS * len(ENDPOINTS),
        "failed": 0, "successful": 0,
    }
    for endpoint in ENDPOINTS:
        counts = run.endpoints[endpoint]
        assert (counts.sent, counts.answered, counts.failed) == (PROMPTS, PROMPTS, 0)
        assert counts.stopped is None
    await assert_every_record_once(runner_id, started.run_id)
    # Nothing left unfinished in the database.
    tasks = PromptTask.get_pymongo_collection()
    batches = PromptBatch.get_pymongo_collection()
    assert await tasks.count_documents(
        {"status": {"$in": [status.value for status in UNFINISHED_TASK]}}
    ) == 0
    assert await batches.count_documents(
        {"status": {"$in": [status.value for status in UNFINISHED_BATCH]}}
    ) == 0
    assert await pending_of_process(redis_url, queue_name, 0) == 0


async def assert_every_record_once(runner_id: str, run_id: str) -> None:
    """Per endpoint: one task per attack prompt, each naming its own record, that record
    holding that prompt; record ids 1..PROMPTS, each once; the prompts the module makes."""
    module = ATTACK_MODULES["charswap_attack"]
    assert isinstance(module, Perturbation)
    expected = module.attack_prompts(
        SEED_PROMPT, configurations=CONFIGURATIONS, seed=CONFIGURATIONS["seed"]
    )
    assert len(expected) == PROMPTS
    batches = {
        batch["batch_id"]: batch async for batch in PromptBatch.get_pymongo_collection().find(
            {"run_id": run_id}, {"batch_id": 1, "prompt_key": 1, "user_prompt": 1}
        )
    }
    # One batch per attack prompt, keyed in the module's order.
    assert sorted(batch["prompt_key"] for batch in batches.values()) == [
        f"{index:04d}" for index in range(PROMPTS)
    ]
    assert all(batch["user_prompt"] == expected[int(batch["prompt_key"])]
               for batch in batches.values())
    chats = await api_get_all_chats_from_session(runner_id)
    for endpoint in ENDPOINTS:
        records = chats[endpoint]
        ids = [record["chat_record_id"] for record in records]
        # Unique, one per attack prompt. (Not necessarily 1..PROMPTS: a step that loses the
        # race to store a prompt, or dies storing it, has reserved ids it never uses.)
        assert len(ids) == len(set(ids)) == PROMPTS, endpoint
        by_id = {record["chat_record_id"]: record for record in records}
        tasks = [
            task async for task in PromptTask.get_pymongo_collection().find(
                {"run_id": run_id, "endpoint": endpoint},
                {"batch_id": 1, "chat_record_id": 1, "status": 1},
            )
        ]
        assert len(tasks) == PROMPTS
        assert {task["status"] for task in tasks} == {TaskStatus.DONE.value}
        by_key: dict[str, list[int]] = {}
        for task in tasks:
            by_key.setdefault(batches[task["batch_id"]]["prompt_key"], []).append(
                task["chat_record_id"]
            )
        assert all(len(record_ids) == 1 for record_ids in by_key.values()), endpoint
        assert len(by_key) == PROMPTS
        # Every record is one task's, and every task's record is stored.
        assert {task["chat_record_id"] for task in tasks} == set(ids), endpoint
        for key, (record_id,) in by_key.items():
            record = by_id[record_id]
            assert record["prompt"] == expected[int(key)]
            assert record["predicted_result"] == f"{endpoint} says: {record['prompt']}"
            assert record.get("run_id") == run_id, record
            assert record["attack_module"] == "charswap_attack"


async def _at_least(count: int) -> bool:
    return await answered_tasks() >= count


async def _holds(redis_url: str, queue_name: str, pid: int) -> bool:
    return await pending_of_process(redis_url, queue_name, pid) >= 1
