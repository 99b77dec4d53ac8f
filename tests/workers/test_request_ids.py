"""A task carries the id of the request that queued it: in its labels, into the worker's lines."""

import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from taskiq import InMemoryBroker
from taskiq.message import BrokerMessage

from service.database import Database
from service.http import create_app
from service.request_context import current_request_id, request_id_set
from service.settings import Settings
from service.workers.broker import build_broker
from service.workers.request_ids import REQUEST_ID_LABEL, RequestIdMiddleware
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_session
from tests.support.live_server import live_server
from tests.support.logs import captured_logs, json_lines
from tests.support.workers import batches_done, sparring_workers, until

SEEN_TASK = "tests.seen_request_id"


class HeldBroker(InMemoryBroker):
    """Keeps what is kicked instead of running it: the test runs it later, elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.kicked: list[BrokerMessage] = []

    async def kick(self, message: BrokerMessage) -> None:
        self.kicked.append(message)


@pytest.fixture
async def broker():
    held = HeldBroker().with_middlewares(RequestIdMiddleware())

    async def seen_request_id() -> str | None:
        return current_request_id()

    held.register_task(seen_request_id, task_name=SEEN_TASK)
    await held.startup()
    yield held
    await held.shutdown()


async def run_kicked(broker: HeldBroker, message: BrokerMessage) -> str | None:
    """Run a kicked message as a worker would (outside any request); what the task saw."""
    await broker.receiver.callback(message.message)
    result = await broker.result_backend.get_result(message.task_id)
    assert not result.is_err, result.error
    return result.return_value


class TestRequestIdMiddleware:
    async def test_a_task_queued_for_a_request_runs_with_its_id(self, broker):
        task = broker.find_task(SEEN_TASK)
        with request_id_set("req-queued-1"):
            await task.kiq()
        (message,) = broker.kicked
        assert message.labels[REQUEST_ID_LABEL] == "req-queued-1"
        assert current_request_id() is None
        assert await run_kicked(broker, message) == "req-queued-1"
        # Reset once the task ended: the worker's next lines are not the request's.
        assert current_request_id() is None

    async def test_a_task_queued_outside_a_request_runs_without_one(self, broker):
        await broker.find_task(SEEN_TASK).kiq()
        (message,) = broker.kicked
        assert REQUEST_ID_LABEL not in message.labels
        assert await run_kicked(broker, message) is None

    @pytest.mark.parametrize("label", ["has space", '{"x": 1}\nforged', "A" * 65, 42])
    async def test_a_label_that_is_not_a_request_id_is_not_taken(self, broker, label):
        kicked = await broker.find_task(SEEN_TASK).kicker().with_labels(
            **{REQUEST_ID_LABEL: label}
        ).kiq()
        (message,) = broker.kicked
        assert message.task_id == kicked.task_id
        assert await run_kicked(broker, message) is None

    def test_every_broker_the_service_builds_has_it(self, settings: Settings):
        broker = build_broker(settings)
        assert any(isinstance(middleware, RequestIdMiddleware)
                   for middleware in broker.middlewares)


@pytest.mark.server_only
async def test_the_worker_logs_each_task_under_the_id_of_the_request_that_queued_it(
    db: Database, server_uri: str, redis_url: str, tmp_path: Path
):
    """A server queues on Redis; a `sparring worker` logging JSON runs; its lines tell whose."""
    settings = {
        "mongodb_uri": server_uri,
        "database": db.database.name,
        "redis_url": redis_url,
        "task_queue": f"prompts-{uuid.uuid4().hex[:8]}",
        "secret_key": TEST_SECRET_KEY,
        "bucket_size": str(TEST_BUCKET_SIZE),
        "worker_max_tasks": "4",
        "data_dir": str(tmp_path / "data"),
        "log_level": "INFO",
        "log_format": "json",
    }
    for name in ("Echo A", "Echo B"):
        await create_endpoint(name)
    await create_session("one", endpoints=["echo-a"])
    await create_session("two", endpoints=["echo-a", "echo-b"])
    server_settings = Settings(**settings)
    app = create_app(server_settings, database=db)
    with (
        sparring_workers(1, settings, tmp_path),
        captured_logs(server_settings) as server_log,
    ):
        async with (
            live_server(app, server_settings) as url,
            httpx.AsyncClient(base_url=url, timeout=60) as client,
        ):
            for runner_id, request_id in (("one", "redis-req-1"), ("two", "redis-req-2")):
                response = await client.post(
                    f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": "Hi"},
                    headers={"X-Request-ID": request_id},
                )
                assert response.status_code == 200, response.text
            await until(lambda: batches_done(2), timeout_s=60, what="both batches")
    # Every line of the worker is JSON (json.loads fails the test on any that is not).
    worker_lines = json_lines((tmp_path / "worker-0.log").read_text())
    executed = [line for line in worker_lines
                if line["message"].startswith("Executing task sparring.run_prompt_task")]
    assert Counter(line.get("request_id") for line in executed) == {
        "redis-req-1": 1, "redis-req-2": 2,
    }
    # Its own lines (starting, listening, stopping) belong to no request.
    assert all("request_id" not in line for line in worker_lines
               if line["logger"] == "service.workers")
    access = [line for line in json_lines(server_log.getvalue())
              if line["logger"] == "uvicorn.access"]
    assert [line["request_id"] for line in access] == ["redis-req-1", "redis-req-2"]
