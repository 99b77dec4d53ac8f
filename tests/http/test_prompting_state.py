"""SIGTERM to `sparring serve` running prompts in process: they finish, or wait for the next
start, within SPARRING_SHUTDOWN_GRACE_S; none is lost or appended twice."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from models import BatchStatus, PromptBatch, TaskStatus
from service.api import api_get_all_chats_from_session
from service.database import Database
from service.embedded import free_loopback_port
from service.http.prompting_state import task_drain_time
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_session
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import ROOT, sparring_env
from tests.support.workers import count_tasks, slow_endpoint, until

pytestmark = pytest.mark.server_only

# Python's own exit after the server's last line: a little beyond the grace is allowed for it.
EXIT_SLACK_S = 1.5


def test_running_prompts_get_the_grace_less_what_closing_needs():
    assert task_drain_time(30) == 23
    assert task_drain_time(3) == 0


def start_serve(settings: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_loopback_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=ROOT,
            env=sparring_env({**settings, "host": "127.0.0.1", "port": str(port)}),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("sparring serve did not start")


def sigterm_and_time(process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    return time.monotonic() - started


@pytest.mark.parametrize(("latency_s", "grace_s"), [(1.0, 10.0), (8.0, 3.0)], ids=[
    "finished-within-the-grace", "cut-short-and-run-at-the-next-start",
])
async def test_sigterm_finishes_or_keeps_running_prompts(
    db: Database, server_uri: str, fake_openai: FakeOpenAI, tmp_path: Path,
    latency_s: float, grace_s: float,
):
    await slow_endpoint(fake_openai, "slow", latency_s)
    runner_id = await create_session(endpoints=["slow"])
    settings = {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        "shutdown_grace_s": str(grace_s),
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
    }
    process, url = start_serve(settings, tmp_path / "serve.log")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            sent = await http.post(
                f"/api/v1/sessions/{runner_id}/prompt", params={"wait": "false"},
                json={"user_prompt": "Hello", "history_length": 0},
            )
        assert sent.status_code == 202, sent.text
        await until(lambda: _called(fake_openai), timeout_s=20, what="the endpoint call")
        took = sigterm_and_time(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # uvicorn ends by re-raising the SIGTERM it handled, once shut down in order.
    log = (tmp_path / "serve.log").read_text()
    assert process.returncode in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]
    assert took <= grace_s + EXIT_SLACK_S, f"took {took:.1f} s"
    finished_in_time = latency_s < task_drain_time(grace_s)
    assert await count_tasks(TaskStatus.DONE) == (1 if finished_in_time else 0)
    if not finished_in_time:
        # Kept as unfinished in MongoDB: the next start runs it (the endpoint called again).
        fake_openai.behaviours["slow"].latency_s = 0.0
        process, url = start_serve(settings, tmp_path / "serve-again.log")
        try:
            await until(_batch_done, timeout_s=30, what="the batch, at the next start")
        finally:
            process.terminate()
            process.wait(timeout=60)
    records = (await api_get_all_chats_from_session(runner_id))["slow"]
    assert [record["prompt"] for record in records] == ["Hello"]


async def _called(fake: FakeOpenAI) -> bool:
    return len(fake.calls_for("slow")) >= 1


async def _batch_done() -> bool:
    return await PromptBatch.get_pymongo_collection().count_documents(
        {"status": BatchStatus.DONE.value}
    ) == 1
