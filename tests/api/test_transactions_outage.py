"""A transaction whose server goes away gives up after the database wait (not PyMongo's 120 s)
with the `ConnectionFailure`, and commits nothing of what it had written."""

import time
from typing import Any

import httpx
import pytest
from pymongo.errors import ConnectionFailure, OperationFailure

from models import ChatCounter, PromptBatch, PromptTask, Runner, Session
from service.api.errors import Unavailable
from service.api.prompting import create_batch
from service.api.transactions import DATABASE_BUSY, database_wait_s, in_transaction
from service.http import create_app
from service.http.errors import DATABASE_UNAVAILABLE
from service.settings import Settings
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_endpoint, create_runner
from tests.support.command_outage import (
    StopOnCommand,
    database_stopping_on_command,
    nth_in_transaction,
)
from tests.support.live_server import live_server
from tests.support.stoppable_database import StoppableDatabase

WAIT_MS = 1000
WAIT_S = WAIT_MS / 1000
UNAVAILABLE = {"detail": DATABASE_UNAVAILABLE}


@pytest.fixture
async def outage(tmp_path: Any) -> Any:
    async with database_stopping_on_command(
        tmp_path, bucket_size=TEST_BUCKET_SIZE, wait_ms=WAIT_MS
    ) as pair:
        yield pair


def marker(key: str) -> dict[str, Any]:
    return {"_id": key, "workspace": "w", "runner_id": key, "name": key, "created_at": 1.0}


class TestInTransaction:
    async def test_the_bound_is_the_clients_database_wait(
        self, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        stoppable, _ = outage
        assert database_wait_s(stoppable.database.client) == pytest.approx(WAIT_S)
        # A client that says nothing (mongomock) gets the service's default.
        assert database_wait_s(object()) == 5.0

    async def test_a_server_gone_mid_transaction_fails_within_the_wait_and_writes_nothing(
        self, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        stoppable, listener = outage
        runners = Runner.get_pymongo_collection()

        async def two_writes(session: Any) -> None:
            await runners.insert_one(marker("first"), session=session)
            await runners.insert_one(marker("second"), session=session)

        listener.arm(nth_in_transaction(2))
        started = time.monotonic()
        with pytest.raises(ConnectionFailure):
            await in_transaction(two_writes)
        took = time.monotonic() - started - listener.stop_took_s

        assert listener.stopped.is_set()
        # The wait and one last attempt's, not PyMongo's 120 s.
        assert took < 3 * WAIT_S, took
        await stoppable.start()
        assert await runners.count_documents({}) == 0

    async def test_a_live_server_commits_every_write(
        self, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        runners = Runner.get_pymongo_collection()

        async def two_writes(session: Any) -> None:
            await runners.insert_one(marker("first"), session=session)
            await runners.insert_one(marker("second"), session=session)

        await in_transaction(two_writes)
        assert await runners.count_documents({}) == 2

    async def test_a_write_conflict_that_lasts_past_the_wait_is_a_busy_database(
        self, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        attempts = 0

        async def always_conflicting(session: Any) -> None:
            nonlocal attempts
            attempts += 1
            # What a server answers a transaction that collided with another's write.
            raise OperationFailure(
                "Write conflict", code=112,
                details={"errorLabels": ["TransientTransactionError"], "code": 112},
            )

        started = time.monotonic()
        with pytest.raises(Unavailable, match=DATABASE_BUSY):
            await in_transaction(always_conflicting)
        assert time.monotonic() - started < 3 * WAIT_S
        assert attempts >= 2

    async def test_an_error_that_is_not_transient_is_raised_at_once(
        self, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        attempts = 0
        runners = Runner.get_pymongo_collection()

        async def duplicate(session: Any) -> None:
            nonlocal attempts
            attempts += 1
            await runners.insert_one(marker("same"), session=session)
            await runners.insert_one(marker("same"), session=session)

        with pytest.raises(OperationFailure) as raised:
            await in_transaction(duplicate)
        assert raised.value.code == 11000
        assert attempts == 1
        assert await runners.count_documents({}) == 0


class TestOverHttp:
    """The transactional writes of the API, cut off by a real outage at their second write."""

    async def test_a_session_delete_answers_503_and_deletes_nothing(
        self, settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        stoppable, listener = outage
        await create_endpoint("echo-a")
        runner_id = await create_runner("Doomed", endpoints=["echo-a"])
        await create_batch(runner_id, "kept", 0)
        before = await chat_documents(runner_id)
        app = create_app(settings, database=stoppable.database)
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
            listener.arm(nth_in_transaction(2))
            started = time.monotonic()
            deleted = await client.delete(f"/api/v1/sessions/{runner_id}")
            took = time.monotonic() - started - listener.stop_took_s
            await stoppable.start()
            after = await client.get(f"/api/v1/sessions/{runner_id}")

        assert listener.stopped.is_set()
        assert deleted.status_code == 503, deleted.text
        assert deleted.json() == UNAVAILABLE
        assert took < 3 * WAIT_S, took
        assert after.status_code == 200
        assert await Runner.get_pymongo_collection().count_documents({"runner_id": runner_id}) == 1
        assert await chat_documents(runner_id) == before

    async def test_a_prompt_answers_503_and_stores_no_batch_nor_task(
        self, settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand]
    ):
        stoppable, listener = outage
        await create_endpoint("echo-a")
        await create_endpoint("echo-b")
        runner_id = await create_runner("Prompted", endpoints=["echo-a", "echo-b"])
        app = create_app(settings, database=stoppable.database)
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
            listener.arm(nth_in_transaction(2))
            started = time.monotonic()
            prompted = await client.post(
                f"/api/v1/sessions/{runner_id}/prompt",
                json={"user_prompt": "hello", "history_length": 0},
            )
            took = time.monotonic() - started - listener.stop_took_s
            await stoppable.start()

        assert listener.stopped.is_set()
        assert prompted.status_code == 503, prompted.text
        assert prompted.json() == UNAVAILABLE
        assert took < 3 * WAIT_S, took
        # The tasks were written first, inside the transaction: none of them stayed.
        assert await PromptTask.get_pymongo_collection().count_documents({}) == 0
        assert await PromptBatch.get_pymongo_collection().count_documents({}) == 0


async def chat_documents(runner_id: str) -> dict[str, int]:
    """How many documents of each kind the session's chats have."""
    scope = {"session_id": runner_id}
    return {
        document.__name__: await document.get_pymongo_collection().count_documents(scope)
        for document in (PromptTask, PromptBatch, ChatCounter, Session)
    }
