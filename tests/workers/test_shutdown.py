"""SIGTERM to `sparring worker`: it finishes or hands back what it holds, within the grace.

A rolling restart (stop a worker, start a new one) loses nothing and runs nothing twice. The
idle timeout is a minute here, so a task the stopped worker kept pending would not be claimed
in time: only what it handed back reaches the new worker.
"""

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from models import TaskStatus
from service.api.prompting import create_batch
from service.database import Database
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import create_session
from tests.support.fake_openai import FakeOpenAI
from tests.support.redis_server import running_redis_server
from tests.support.workers import (
    assert_every_record_once,
    assert_nothing_left,
    batches_done,
    count_tasks,
    outage_settings,
    pending_of_process,
    queue_leftovers,
    slow_endpoint,
    sparring_workers,
    start_worker,
    until,
    wait_until_listening,
)

pytestmark = pytest.mark.server_only

GRACE_S = 5.0
# Python's own exit after the worker's last line: a little beyond the grace is allowed for it.
EXIT_SLACK_S = 1.0


@pytest.fixture
def redis():
    with running_redis_server() as server:
        yield server


async def send_prompts(sessions: int, prompts: int, endpoint: str) -> dict[str, list[str]]:
    """`prompts` stored round robin over `sessions` new sessions; returns what each got."""
    runner_ids = [
        await create_session(f"rolling-{uuid.uuid4().hex[:6]}", endpoints=[endpoint])
        for _ in range(sessions)
    ]
    sent: dict[str, list[str]] = {runner_id: [] for runner_id in runner_ids}
    for number in range(prompts):
        runner_id = runner_ids[number % sessions]
        sent[runner_id].append(f"Prompt {number}")
    return sent


async def store(sent: dict[str, list[str]]) -> list[str]:
    return [
        task_id for runner_id, prompts in sent.items() for prompt in prompts
        for task_id in (await create_batch(runner_id, prompt))[1]
    ]


def sigterm_and_time(process) -> float:
    """Send SIGTERM and wait for the exit; returns how long it took."""
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=GRACE_S * 4)
    return time.monotonic() - started


async def test_a_worker_stopped_mid_run_hands_back_and_a_new_one_finishes(
    db: Database, server_uri, redis, fake_openai: FakeOpenAI, tmp_path: Path
):
    queue_name = f"prompts-{uuid.uuid4().hex[:8]}"
    settings = {
        **outage_settings(db, server_uri, redis.url, queue_name, tmp_path),
        "shutdown_grace_s": str(GRACE_S),
    }
    await slow_endpoint(fake_openai, "steady", 0.2)
    sent = await send_prompts(4, 80, "steady")
    task_ids = await store(sent)
    queue = TaskQueue(Settings(**settings))
    await queue.start()
    try:
        with sparring_workers(1, settings, tmp_path) as (old,):
            await queue.enqueue(task_ids)
            await until(lambda: _done_at_least(20), timeout_s=30, what="a fifth of the run")
            assert await pending_of_process(redis.url, queue_name, old.pid) >= 1
            took = sigterm_and_time(old)
            assert old.returncode == 0
            assert took <= GRACE_S + EXIT_SLACK_S, f"took {took:.1f} s"
            assert await count_tasks(TaskStatus.DONE) < len(task_ids), "stopped after the end"
            # It holds nothing: what it read ahead went back, what ran finished.
            assert await pending_of_process(redis.url, queue_name, old.pid) == 0
            log = (tmp_path / "worker-0.log").read_text()
            assert "Handed" in log and "back to the queue" in log, log[-3000:]
            new_log = tmp_path / "worker-new.log"
            new = start_worker(settings, new_log)
            try:
                wait_until_listening(new, new_log)
                await until(lambda: batches_done(len(task_ids)), timeout_s=40,
                            what="every batch done by the new worker")
            finally:
                new.terminate()
                new.wait(timeout=GRACE_S * 4)
    finally:
        await queue.stop()
    for runner_id, prompts in sent.items():
        await assert_every_record_once(runner_id, "steady", prompts)
    await assert_nothing_left(redis.url, queue_name)


async def test_a_task_longer_than_the_grace_is_handed_back_and_runs_once(
    db: Database, server_uri, redis, fake_openai: FakeOpenAI, tmp_path: Path
):
    grace_s = 2.0
    queue_name = f"prompts-{uuid.uuid4().hex[:8]}"
    settings = {
        **outage_settings(db, server_uri, redis.url, queue_name, tmp_path),
        "shutdown_grace_s": str(grace_s),
    }
    await slow_endpoint(fake_openai, "slow", 4.0)
    sent = await send_prompts(1, 3, "slow")
    task_ids = await store(sent)
    queue = TaskQueue(Settings(**settings))
    await queue.start()
    try:
        with sparring_workers(1, settings, tmp_path) as (old,):
            await queue.enqueue(task_ids)
            await until(lambda: _calls_at_least(fake_openai, "slow", 3), timeout_s=20,
                        what="the three calls to start")
            started = time.monotonic()
            os.kill(old.pid, signal.SIGTERM)
            old.wait(timeout=20)
            took = time.monotonic() - started
            assert took <= grace_s + EXIT_SLACK_S, f"took {took:.1f} s"
            # Cut short, nothing appended, all three back in the queue, none acknowledged.
            assert await count_tasks(TaskStatus.DONE) == 0
            assert await queue_leftovers(redis.url, queue_name) == {
                "entries": 3, "pending": 0, "queued_tasks": 3,
            }
            new_log = tmp_path / "worker-new.log"
            new = start_worker(settings, new_log)
            try:
                wait_until_listening(new, new_log)
                await until(lambda: batches_done(len(task_ids)), timeout_s=30,
                            what="the three batches done by the new worker")
            finally:
                new.terminate()
                new.wait(timeout=20)
    finally:
        await queue.stop()
    for runner_id, prompts in sent.items():
        await assert_every_record_once(runner_id, "slow", prompts)
    await assert_nothing_left(redis.url, queue_name)


async def _done_at_least(count: int) -> bool:
    return await count_tasks(TaskStatus.DONE) >= count


async def _calls_at_least(fake: FakeOpenAI, model: str, count: int) -> bool:
    return len(fake.calls_for(model)) >= count
