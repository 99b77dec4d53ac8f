"""`POST /api/v1/sessions` writes a runner and its session: both or neither where the server
has transactions, and elsewhere a create cut off between the two is completed by the same
create sent again, never answered 409 by the runner it left."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pymongo.errors import AutoReconnect

from models import Runner, Session
from models.keys import runner_key
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.store import new_session_document
from service.http import create_app
from service.http.errors import DATABASE_UNAVAILABLE
from service.settings import Settings
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_endpoint
from tests.support.command_outage import database_stopping_on_command, nth_in_transaction
from tests.support.live_server import live_server
from tests.support.stoppable_database import TEST_DB_WAIT_MS

UNAVAILABLE = {"detail": DATABASE_UNAVAILABLE}
NAME = "Cut off"
RUNNER_ID = "cut-off"
KEY = runner_key(DEFAULT_WORKSPACE, RUNNER_ID)


@pytest.fixture
def body(session_body: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return session_body(NAME)


@pytest.fixture
def outage_after_the_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """The database gone after the runner is written: the session insert fails, and so does
    the clean-up of the runner. Yields the function that ends the outage."""
    async def gone(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection closed")

    runners = Runner.get_pymongo_collection()
    monkeypatch.setattr(Session, "insert", gone)
    monkeypatch.setattr(runners, "delete_one", gone, raising=False)
    yield monkeypatch.undo


async def stored() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    runner = await Runner.get_pymongo_collection().find_one({"_id": KEY})
    session = await Session.get_pymongo_collection().find_one({"_id": KEY})
    return runner, session


class TestCreateCutOff:
    async def test_the_same_create_sent_again_completes_the_pair(
        self, live_client: httpx.AsyncClient, body: dict[str, Any], tier: str,
        outage_after_the_runner: Callable[[], None],
    ):
        failed = await live_client.post("/api/v1/sessions", json=body)
        runner_between, session_between = await stored()
        outage_after_the_runner()
        retried = await live_client.post("/api/v1/sessions", json=body)
        runner_after, session_after = await stored()

        assert failed.status_code == 503, failed.text
        assert failed.json() == UNAVAILABLE
        assert session_between is None
        # A transaction writes neither; without one the runner stays until the retry.
        assert (runner_between is None) == (tier == "server")
        assert retried.status_code == 200, retried.text
        assert retried.json()["session"]["session_id"] == RUNNER_ID
        assert runner_after is not None and session_after is not None
        if runner_between is not None:
            assert runner_after == runner_between
        listed = await live_client.get("/api/v1/sessions")
        assert [item["session_id"] for item in listed.json()] == [RUNNER_ID]

    async def test_a_different_runner_of_that_name_is_still_a_conflict(
        self, live_client: httpx.AsyncClient, body: dict[str, Any]
    ):
        other = Runner(
            id=KEY, workspace=DEFAULT_WORKSPACE, runner_id=RUNNER_ID, name=NAME,
            description="Another create's.", endpoints=body["endpoints"], created_at=1.0,
        )
        await other.insert()

        answer = await live_client.post("/api/v1/sessions", json=body)

        assert answer.status_code == 409, answer.text
        runner, session = await stored()
        assert runner == other.model_dump(by_alias=True)
        assert session is None

    async def test_a_complete_pair_is_a_conflict_and_stays_as_it_was(
        self, live_client: httpx.AsyncClient, body: dict[str, Any]
    ):
        first = await live_client.post("/api/v1/sessions", json=body)
        before = await stored()
        again = await live_client.post("/api/v1/sessions", json=body)
        assert first.status_code == 200
        assert again.status_code == 409
        assert await stored() == before

    async def test_a_session_api_session_of_that_name_leaves_no_runner_behind(
        self, live_client: httpx.AsyncClient, body: dict[str, Any]
    ):
        # Moonshot's Session API makes sessions without runners.
        await new_session_document(RUNNER_ID, body["endpoints"], {}, DEFAULT_WORKSPACE).insert()

        answer = await live_client.post("/api/v1/sessions", json=body)

        assert answer.status_code == 409, answer.text
        runner, session = await stored()
        assert runner is None
        assert session is not None and session["runner_name"] == RUNNER_ID

    async def test_bad_input_writes_nothing(
        self, live_client: httpx.AsyncClient, body: dict[str, Any]
    ):
        answer = await live_client.post(
            "/api/v1/sessions", json={**body, "endpoints": ["no-such-endpoint"]}
        )
        assert answer.status_code == 422
        assert await stored() == (None, None)


async def test_a_real_outage_at_the_session_insert_writes_neither(
    settings: Settings, tmp_path: Any
):
    async with database_stopping_on_command(tmp_path, bucket_size=TEST_BUCKET_SIZE) as (
        stoppable, listener,
    ):
        await create_endpoint("echo-a")
        app = create_app(settings, database=stoppable.database)
        body = {"name": NAME, "endpoints": ["echo-a"]}
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
            # The runner insert starts the transaction; the session insert is its second write.
            listener.arm(nth_in_transaction(2))
            started = time.monotonic()
            failed = await client.post("/api/v1/sessions", json=body)
            took = time.monotonic() - started - listener.stop_took_s
            await stoppable.start()
            between = await stored()
            retried = await client.post("/api/v1/sessions", json=body)
            after = await stored()

    assert listener.stopped.is_set()
    assert failed.status_code == 503, failed.text
    assert failed.json() == UNAVAILABLE
    assert took < 3 * TEST_DB_WAIT_MS / 1000, took
    assert between == (None, None)
    assert retried.status_code == 200, retried.text
    assert after[0] is not None and after[1] is not None
