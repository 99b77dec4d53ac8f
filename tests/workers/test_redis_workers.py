"""Redis tier: `sparring worker` processes share the work, its limits, and survive a kill -9.

These run on the real wire-protocol server only: several processes share one database.
"""

import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from service.api import api_get_all_chats_from_session
from service.api.prompting import create_batch
from service.database import Database
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_session
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.processes import sparring_servers
from tests.support.workers import (
    consumers_reading,
    pending_of_process,
    sparring_workers,
    until,
)

pytestmark = pytest.mark.server_only


@pytest.fixture
def queue_name() -> str:
    return f"prompts-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker_settings(
    db: Database, server_uri: str, redis_url: str, queue_name: str, tmp_path: Path
) -> dict[str, str]:
    """What every process of the test is told: the test's database, Redis and stream."""
    return {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "redis_url": redis_url,
        "task_queue": queue_name,
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        "worker_idle_timeout_s": "2",
        "worker_max_tasks": "8",
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
    }


@pytest.fixture
async def redis_queue(worker_settings: dict[str, str]):
    """This process's side of the Redis queue: it only queues, the workers run."""
    queue = TaskQueue(Settings(**worker_settings))
    await queue.start()
    yield queue
    await queue.stop()


async def fake_endpoint(fake: FakeOpenAI, name: str, latency_s: float, **limits) -> str:
    fake.behaviours[name] = Behaviour(latency_s=latency_s)
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
        params={"timeout": 10, "max_attempts": 1}, **limits,
    )


async def count_tasks(status: TaskStatus) -> int:
    return await PromptTask.get_pymongo_collection().count_documents({"status": status.value})


async def all_batches_finished(expected: int) -> bool:
    finished = await PromptBatch.get_pymongo_collection().count_documents(
        {"status": {"$in": [BatchStatus.DONE.value, BatchStatus.FAILED.value]}}
    )
    return finished == expected


async def test_max_concurrency_holds_across_two_workers(
    db, redis_queue, worker_settings, queue_name, redis_url, fake_openai, tmp_path
):
    await fake_endpoint(fake_openai, "narrow", 0.1, max_concurrency=2)
    runner_id = await create_session(endpoints=["narrow"])
    with sparring_workers(2, worker_settings, tmp_path):
        task_ids = [
            task_id for n in range(16) for task_id in (await create_batch(runner_id, f"P{n}"))[1]
        ]
        await redis_queue.enqueue(task_ids)
        await until(lambda: all_batches_finished(16), timeout_s=60, what="16 batches")
    assert fake_openai.max_in_flight["narrow"] == 2
    assert len((await api_get_all_chats_from_session(runner_id))["narrow"]) == 16


async def _consumers(redis_url: str, queue_name: str, count: int) -> bool:
    return await consumers_reading(redis_url, queue_name) >= count


async def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(
    db, redis_queue, worker_settings, queue_name, redis_url, fake_openai, tmp_path
):
    endpoints = ["steady"]
    await fake_endpoint(fake_openai, "steady", 0.05, max_concurrency=50)
    runner_id = await create_session(endpoints=endpoints)
    prompts = [f"Prompt {number}" for number in range(200)]
    task_ids = [
        task_id for prompt in prompts for task_id in (await create_batch(runner_id, prompt))[1]
    ]
    with sparring_workers(2, worker_settings, tmp_path) as workers:
        await redis_queue.enqueue(task_ids)
        # Both workers have taken tasks, and a quarter of the run is done.
        await until(lambda: _consumers(redis_url, queue_name, 2), timeout_s=60,
                    what="both workers taking tasks")
        await until(lambda: _done_at_least(50), timeout_s=60, what="a quarter of the run")
        victim = workers[0].pid
        await until(lambda: _holds_tasks(redis_url, queue_name, victim), timeout_s=60,
                    what="the victim holding a task")
        os.kill(victim, signal.SIGKILL)
        workers[0].wait()
        assert await count_tasks(TaskStatus.DONE) < len(task_ids), "killed after the end"
        await until(lambda: all_batches_finished(len(prompts)), timeout_s=120,
                    what="every batch to finish")
    chats = await api_get_all_chats_from_session(runner_id)
    for endpoint in endpoints:
        records = chats[endpoint]
        assert sorted(record["chat_record_id"] for record in records) == list(range(1, 201))
        assert sorted(record["prompt"] for record in records) == sorted(prompts)
        assert all(record["predicted_result"] == f"{endpoint} says: {record['prompt']}"
                   for record in records)
    # What the killed worker held when it died was claimed by the other and acknowledged.
    assert await pending_of_process(redis_url, queue_name, 0) == 0


async def _holds_tasks(redis_url: str, queue_name: str, pid: int) -> bool:
    return await pending_of_process(redis_url, queue_name, pid) >= 1


async def _done_at_least(count: int) -> bool:
    return await count_tasks(TaskStatus.DONE) >= count


async def test_serve_and_worker_answer_over_http(
    db, worker_settings, queue_name, redis_url, tmp_path
):
    """The README's demo with Redis: two echo endpoints, a session, a prompt, both answers."""
    with sparring_workers(1, worker_settings, tmp_path), sparring_servers(
        1, worker_settings, tmp_path
    ) as (url,):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for name in ("Echo A", "Echo B"):
                created = await http.post(
                    "/api/v1/llm-endpoints", json={"name": name, "connector_type": "echo"}
                )
                assert created.status_code == 200, created.text
            session = await http.post(
                "/api/v1/sessions", json={"name": "Demo", "endpoints": ["echo-a", "echo-b"]}
            )
            assert session.status_code == 200, session.text
            answer = await http.post(
                "/api/v1/sessions/demo/prompt", json={"user_prompt": "Hello", "history_length": 0}
            )
            assert answer.status_code == 200, answer.text
            chats = answer.json()["current_chats"]
            assert {endpoint: records[0]["predicted_result"] for endpoint, records in
                    chats.items()} == {"echo-a": "Hello", "echo-b": "Hello"}
            # The events were written by the worker and are served by the server process.
            events = await http.get(
                "/api/v1/sessions/demo/events", params={"follow": "false", "last_event_id": 0}
            )
            assert events.text.count("event: chat_record") == 2
