"""Redis going away and coming back: workers ride it out, prompts sent meanwhile are kept.

Real processes: `sparring worker` (and `sparring serve`) against a redis-server that the test
stops and starts again on the same port, with its data kept on disk or lost.
"""

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from models import BatchStatus, TaskStatus
from service.api import api_get_all_chats_from_session
from service.api.prompting import create_batch
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import create_session
from tests.support.processes import sparring_servers
from tests.support.redis_server import RedisServer, running_redis_server
from tests.support.workers import (
    assert_every_record_once,
    assert_nothing_left,
    batches_done,
    count_tasks,
    outage_settings,
    slow_endpoint,
    sparring_workers,
    until,
)

pytestmark = pytest.mark.server_only

SESSIONS = 4
PROMPTS = 200
# How long Redis stays down: what is tested is riding out an outage of this length (a restart
# of Redis takes about as long), so it is waited out rather than awaited.
OUTAGE_S = 1.5
# What a worker logs when an outage starts (once per outage, however much runs into it).
OUTAGE_LINE = b"Redis is unreachable"


@pytest.fixture(params=["kept", "lost"])
def redis(request: pytest.FixtureRequest, tmp_path: Path):
    """A redis-server of the test's own: its data kept across a restart, or lost."""
    data_dir = None
    if request.param == "kept":
        data_dir = tmp_path / "redis"
        data_dir.mkdir()
    with running_redis_server(data_dir) as server:
        yield server


@pytest.fixture
def queue_name() -> str:
    return f"prompts-{uuid.uuid4().hex[:8]}"


async def test_a_redis_restart_mid_run_loses_nothing_and_duplicates_nothing(
    db, server_uri, redis: RedisServer, queue_name, fake_openai, tmp_path
):
    settings = outage_settings(db, server_uri, redis.url, queue_name, tmp_path)
    await slow_endpoint(fake_openai, "steady", 0.05)
    # A few sessions (each its own stream), their prompts interleaved as users send them.
    runner_ids = [
        await create_session(f"outage-{number}", endpoints=["steady"])
        for number in range(SESSIONS)
    ]
    prompts = {runner_id: [] for runner_id in runner_ids}
    task_ids = []
    for number in range(PROMPTS):
        runner_id = runner_ids[number % SESSIONS]
        prompts[runner_id].append(f"Prompt {number}")
        task_ids.extend((await create_batch(runner_id, prompts[runner_id][-1]))[1])
    queue = TaskQueue(Settings(**settings))
    await queue.start()
    try:
        with sparring_workers(2, settings, tmp_path) as workers:
            await queue.enqueue(task_ids)
            await until(lambda: _done_at_least(40), timeout_s=60, what="a fifth of the run")
            redis.stop()
            done_at_stop = await count_tasks(TaskStatus.DONE)
            assert done_at_stop < PROMPTS, "Redis stopped after the run ended"
            # The workers notice (each logs it once) and keep running.
            for number in range(2):
                await until(lambda n=number: _logged(tmp_path, n, OUTAGE_LINE), timeout_s=15,
                            what=f"worker {number} to notice the outage")
            await asyncio.sleep(OUTAGE_S)
            assert all(worker.poll() is None for worker in workers)
            redis.start()
            await until(lambda: batches_done(PROMPTS), timeout_s=120, what="every batch done")
            assert all(worker.poll() is None for worker in workers)
        for number in range(2):
            log = (tmp_path / f"worker-{number}.log").read_bytes()
            assert log.count(OUTAGE_LINE) == 1, log.decode()[-3000:]
            assert b"Redis is back" in log
    finally:
        await queue.stop()
    for runner_id, sent in prompts.items():
        await assert_every_record_once(runner_id, "steady", sent)
    await assert_nothing_left(redis.url, queue_name)


async def _done_at_least(count: int) -> bool:
    return await count_tasks(TaskStatus.DONE) >= count


async def _logged(tmp_path: Path, number: int, line: bytes) -> bool:
    return line in (tmp_path / f"worker-{number}.log").read_bytes()


async def test_a_prompt_sent_while_redis_is_down_is_accepted_and_runs_once_it_is_back(
    db, server_uri, queue_name, tmp_path
):
    with running_redis_server() as redis:
        settings = {
            **outage_settings(db, server_uri, redis.url, queue_name, tmp_path),
            "prompt_wait_s": "1",
        }
        with sparring_workers(1, settings, tmp_path), sparring_servers(
            1, settings, tmp_path
        ) as (url,):
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                for name in ("Echo A", "Echo B"):
                    created = await http.post(
                        "/api/v1/llm-endpoints", json={"name": name, "connector_type": "echo"}
                    )
                    assert created.status_code == 200, created.text
                session = await http.post(
                    "/api/v1/sessions", json={"name": "Demo", "endpoints": ["echo-a", "echo-b"]}
                )
                assert session.status_code == 200, session.text
                redis.stop()
                answers = [
                    await http.post("/api/v1/sessions/demo/prompt",
                                    json={"user_prompt": f"Hello {n}", "history_length": 0})
                    for n in range(3)
                ]
                assert [answer.status_code for answer in answers] == [202] * 3, answers[0].text
                batch_ids = [answer.json()["batch_id"] for answer in answers]
                # Stored as queued, nothing run, while Redis is down.
                assert await count_tasks(TaskStatus.QUEUED) == 6
                redis.start()
                for batch_id in batch_ids:
                    await until(lambda b=batch_id: _batch_done(http, b), timeout_s=30,
                                what=f"batch {batch_id} to finish")
        server_log = (tmp_path / "serve-0.log").read_bytes()
        # Three prompts during one outage: said once.
        assert server_log.count(OUTAGE_LINE) == 1, server_log.decode()[-3000:]
        await assert_nothing_left(redis.url, queue_name)
    chats = await api_get_all_chats_from_session("demo")
    for endpoint in ("echo-a", "echo-b"):
        assert sorted(record["prompt"] for record in chats[endpoint]) == [
            "Hello 0", "Hello 1", "Hello 2",
        ]


async def _batch_done(http: httpx.AsyncClient, batch_id: str) -> bool:
    answer = await http.get(f"/api/v1/sessions/demo/batches/{batch_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["status"] == BatchStatus.DONE.value
