"""The database going away under a `sparring worker` mid-run: it waits, then finishes each
prompt once. A database server of the test's own (the shared one stays up), stopped and
started again on its port with its files."""

import asyncio
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from service.embedded import EmbeddedServer, free_loopback_port
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.processes import sparring_servers
from tests.support.redis_server import running_redis_server
from tests.support.workers import sparring_workers, start_worker, until

pytestmark = pytest.mark.server_only

PROMPTS = 12
OUTAGE_S = 2.0
OUTAGE_LINE = "The database is unreachable"
# What a process may take to exit after its grace while the tests share two cores.
EXIT_SLACK_S = 3.0


@pytest.fixture
def database_server(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "own-db" / "db", supervise=False)
    server.start()
    yield server
    server.stop()


async def test_a_worker_rides_out_a_database_restart_and_appends_each_record_once(
    database_server: EmbeddedServer, fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.behaviours["slow"] = Behaviour(latency_s=0.5)
    with running_redis_server() as redis:
        settings = {
            "mongodb_uri": database_server.uri,
            "database": f"outage_{uuid.uuid4().hex[:8]}",
            "redis_url": redis.url,
            "task_queue": f"prompts-{uuid.uuid4().hex[:8]}",
            "secret_key": TEST_SECRET_KEY,
            "bucket_size": str(TEST_BUCKET_SIZE),
            "db_wait_s": "1",
            "worker_max_tasks": "4",
            "task_requeue_after_s": "2",
            "shutdown_grace_s": "5",
            "data_dir": str(tmp_path / "data"),
            "log_level": "INFO",
        }
        with sparring_workers(1, settings, tmp_path) as (worker,), sparring_servers(
            1, settings, tmp_path
        ) as (url,):
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                created = await http.post("/api/v1/llm-endpoints", json={
                    "name": "Slow", "connector_type": "openai-connector",
                    "uri": fake_openai.base_url, "token": VALID_TOKEN, "model": "slow",
                    "max_calls_per_second": 1000, "max_concurrency": 50,
                    "params": {"timeout": 10, "max_attempts": 1},
                })
                assert created.status_code == 200, created.text
                session = await http.post(
                    "/api/v1/sessions", json={"name": "Outage", "endpoints": ["slow"]}
                )
                assert session.status_code == 200, session.text
                for number in range(PROMPTS):
                    sent = await http.post(
                        "/api/v1/sessions/outage/prompt", params={"wait": "false"},
                        json={"user_prompt": f"Prompt {number}", "history_length": 0},
                    )
                    assert sent.status_code == 202, sent.text
                # Calls in flight: the records they build have nowhere to go for a while.
                await until(lambda: _calls_at_least(fake_openai, 2), timeout_s=20,
                            what="the first calls")
                database_server.stop()
                await asyncio.sleep(OUTAGE_S)  # the outage itself is what is tested
                assert worker.poll() is None
                database_server.restart()
                await until(lambda: _all_answered(http), timeout_s=40,
                            what="every prompt answered")
                answer = await http.get("/api/v1/sessions/outage",
                                        params={"include_history": "true"})
            assert worker.poll() is None
        log = (tmp_path / "worker-0.log").read_text()
    records = answer.json()["chat_records"]["slow"]
    assert sorted(record["chat_record_id"] for record in records) == list(range(1, PROMPTS + 1))
    assert sorted(record["prompt"] for record in records) == sorted(
        f"Prompt {number}" for number in range(PROMPTS)
    )
    assert log.count(OUTAGE_LINE) == 1, log[-3000:]
    assert "The database is back" in log


async def _calls_at_least(fake: FakeOpenAI, count: int) -> bool:
    return len(fake.calls_for("slow")) >= count


async def _all_answered(http: httpx.AsyncClient) -> bool:
    answer = await http.get("/api/v1/sessions/outage", params={"include_history": "true"})
    if answer.status_code != 200:
        return False  # the service answers 503 until it reconnects
    return len(answer.json()["chat_records"]["slow"]) >= PROMPTS


def test_a_worker_started_while_the_database_is_down_waits_and_stops_on_sigterm(tmp_path):
    closed = f"mongodb://127.0.0.1:{free_loopback_port()}/?directConnection=true"
    with running_redis_server() as redis:
        settings = {
            "mongodb_uri": closed, "redis_url": redis.url, "secret_key": TEST_SECRET_KEY,
            "db_wait_s": "0.3", "shutdown_grace_s": "3", "data_dir": str(tmp_path / "data"),
            "log_level": "INFO",
        }
        log_path = tmp_path / "worker.log"
        worker = start_worker(settings, log_path)
        try:
            deadline = time.monotonic() + 30
            while OUTAGE_LINE not in log_path.read_text():
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "the outage was never noticed"
                time.sleep(0.05)
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    log = log_path.read_text()
    assert worker.returncode == 0, log[-3000:]
    # The 3 s grace plus slack for a busy machine's process exit; not the 20 s of a worker
    # that ignores SIGTERM while it waits for the database.
    assert took <= 3 + EXIT_SLACK_S, f"took {took:.1f} s"
    assert log.count(OUTAGE_LINE) == 1 and "Worker stopped." in log
