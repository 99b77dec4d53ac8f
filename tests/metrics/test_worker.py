"""`sparring worker`'s own `/metrics` (Redis tier), and its metrics server in process.

The worker test runs on the real wire-protocol server only: the worker is another process
sharing the test's database.
"""

import re
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from models import BatchStatus, PromptBatch
from service.api.prompting import create_batch
from service.database import Database
from service.metrics.worker_server import WorkerMetricsServer
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_session
from tests.metrics.scraping import parse, scrape, value
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.workers import pending_of_process, sparring_workers, until

SERVING = re.compile(rb"Worker metrics served on port (\d+)")


def worker_metrics_url(log_path: Path) -> str:
    found = SERVING.search(log_path.read_bytes())
    assert found is not None, log_path.read_text()
    return f"http://127.0.0.1:{int(found[1])}"


async def finished_batches(expected: int) -> bool:
    done = await PromptBatch.get_pymongo_collection().count_documents(
        {"status": BatchStatus.DONE.value}
    )
    return done == expected


@pytest.mark.server_only
async def test_the_worker_serves_its_calls_queue_and_database_commands(
    db: Database, server_uri: str, redis_url: str, fake_openai: FakeOpenAI, tmp_path: Path
):
    queue_name = f"metered-{uuid.uuid4().hex[:8]}"
    worker_settings = {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "redis_url": redis_url,
        "task_queue": queue_name,
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        "worker_idle_timeout_s": "5",
        "worker_max_tasks": "4",
        "worker_metrics_port": "0",
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
    }
    # One call at a time, each long enough to find the others waiting in the queue.
    fake_openai.behaviours["slow-model"] = Behaviour(latency_s=0.5)
    endpoint = await create_endpoint(
        "Slow One", "openai-connector", uri=fake_openai.base_url, token=VALID_TOKEN,
        model="slow-model", params={"timeout": 10, "max_attempts": 1}, max_concurrency=1,
    )
    runner_id = await create_session(endpoints=[endpoint])
    prompts = ["first secret prompt", "second secret prompt", "third secret prompt"]
    task_ids = [task for prompt in prompts for task in (await create_batch(runner_id, prompt))[1]]
    queue = TaskQueue(Settings(**worker_settings))
    await queue.start()
    try:
        with sparring_workers(1, worker_settings, tmp_path):
            url = worker_metrics_url(tmp_path / "worker-0.log")
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                await queue.enqueue(task_ids)
                await until(lambda: _holds(redis_url, queue_name), timeout_s=60,
                            what="the worker holding a task")
                busy = await scrape(client)
                await until(lambda: finished_batches(len(prompts)), timeout_s=60,
                            what="every batch done")
                # A task settles its batch before its worker acknowledges its message.
                await until(lambda: _drained(client), timeout_s=60,
                            what="the last message acknowledged")
                idle = await scrape(client)
                elsewhere = await client.get("/elsewhere")
    finally:
        await queue.stop()

    assert value(busy, "sparring_task_queue_readable") == 1
    assert value(busy, "sparring_task_queue_depth") >= 1
    assert value(busy, "sparring_task_queue_pending") >= 1
    assert value(busy, "sparring_task_queue_oldest_age_seconds") > 0
    assert value(idle, "sparring_task_queue_depth") == 0
    assert value(idle, "sparring_task_queue_oldest_age_seconds") == 0
    assert value(idle, "sparring_endpoint_calls_total", endpoint=endpoint,
                 outcome="answered") == len(prompts)
    assert value(idle, "sparring_endpoint_call_duration_seconds_count", endpoint=endpoint,
                 outcome="answered") == len(prompts)
    assert value(idle, "sparring_prompt_batches_total", status="done") == len(prompts)
    # The worker opened the database itself: its commands were timed.
    assert value(idle, "sparring_database_command_duration_seconds_count",
                 command="update", outcome="succeeded") > 0
    assert elsewhere.status_code == 404
    labels = [label for _, pairs in idle for _, label in pairs]
    assert not [label for label in labels if "secret" in label or VALID_TOKEN in label]


async def _holds(redis_url: str, queue_name: str) -> bool:
    return await pending_of_process(redis_url, queue_name, 0) >= 1


async def _drained(client: httpx.AsyncClient) -> bool:
    return value(await scrape(client), "sparring_task_queue_depth") == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestWorkerMetricsServer:
    @pytest.fixture
    def serve(self, tmp_path: Path):
        servers: list[WorkerMetricsServer] = []

        def start(**changes: object) -> str:
            # Redis on a port nothing listens on: the page answers and says so.
            settings = Settings(
                data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{_closed_port()}/0", **changes
            )
            server = WorkerMetricsServer(settings, 0)
            server.start()
            servers.append(server)
            return f"http://127.0.0.1:{server.port}"

        yield start
        for server in servers:
            server.stop()

    async def test_answers_only_metrics_to_allowed_addresses(self, serve):
        allowed, refused = serve(), serve(metrics_allow=["10.0.0.0/8"])
        async with httpx.AsyncClient(timeout=30) as client:
            page = await client.get(f"{allowed}/metrics")
            other_path = await client.get(f"{allowed}/")
            not_allowed = await client.get(f"{refused}/metrics")
        assert page.status_code == 200
        assert "# HELP sparring_endpoint_calls_total" in page.text
        assert value(parse(page.text), "sparring_task_queue_readable") == 0
        assert (other_path.status_code, not_allowed.status_code) == (404, 404)
        assert "sparring_" not in not_allowed.text

    def test_a_taken_port_fails_at_start(self, serve):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(OSError):
                WorkerMetricsServer(Settings(data_dir=Path("unused")), taken.getsockname()[1])
