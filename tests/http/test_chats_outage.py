"""`GET /api/v1/sessions/{id}/chats` streams its answer: a database gone before the first
chunk is a clean 503; one gone mid-stream ends the body with one log line, no traceback."""

import json
import logging
from typing import Any

import httpx
import pytest

from service.api.chats import append_chat_records, reserve_chat_record_ids
from service.http import create_app
from service.http.errors import DATABASE_UNAVAILABLE
from service.http.streaming import CHUNK_BYTES
from service.settings import Settings
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_endpoint, create_runner, make_chat_record
from tests.support.command_outage import (
    StopOnCommand,
    command_on,
    database_stopping_on_command,
)
from tests.support.live_server import live_server
from tests.support.stoppable_database import StoppableDatabase

UNAVAILABLE = {"detail": DATABASE_UNAVAILABLE}
RECORDS = 30
# Big enough records that the first endpoint's alone fill more than one chunk.
PROMPT = "p" * (CHUNK_BYTES // 10)


@pytest.fixture
async def outage(tmp_path: Any) -> Any:
    async with database_stopping_on_command(tmp_path, bucket_size=TEST_BUCKET_SIZE) as pair:
        yield pair


async def session_with_chats() -> str:
    for endpoint in ("echo-a", "echo-b"):
        await create_endpoint(endpoint)
    runner_id = await create_runner("Exported", endpoints=["echo-a", "echo-b"])
    for endpoint in ("echo-a", "echo-b"):
        ids = await reserve_chat_record_ids(runner_id, endpoint, RECORDS)
        records = [make_chat_record(i, endpoint, prompt=PROMPT) for i in ids]
        await append_chat_records(runner_id, endpoint, records)
    return runner_id


def chats_url(runner_id: str) -> str:
    return f"/api/v1/sessions/{runner_id}/chats"


async def test_a_database_stopped_before_the_request_is_a_503(
    settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand]
):
    stoppable, _ = outage
    runner_id = await session_with_chats()
    app = create_app(settings, database=stoppable.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        await stoppable.stop()
        during = await client.get(chats_url(runner_id))
        await stoppable.start()
        after = await client.get(chats_url(runner_id))
    assert during.status_code == 503
    assert during.json() == UNAVAILABLE
    assert during.headers["retry-after"]
    assert after.status_code == 200
    assert [len(after.json()[endpoint]) for endpoint in ("echo-a", "echo-b")] == [RECORDS] * 2


async def test_a_database_gone_at_the_first_read_of_chats_is_a_503_not_a_cut_200(
    settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand]
):
    stoppable, listener = outage
    runner_id = await session_with_chats()
    app = create_app(settings, database=stoppable.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        # After the session was found: the first read of the chats themselves.
        listener.arm(command_on("find", "chat_buckets"))
        answer = await client.get(chats_url(runner_id))
    assert listener.stopped.is_set()
    assert answer.status_code == 503, answer.text
    assert answer.json() == UNAVAILABLE


async def test_a_database_gone_mid_stream_ends_the_body_with_one_log_line(
    settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand],
    caplog: pytest.LogCaptureFixture,
):
    stoppable, listener = outage
    runner_id = await session_with_chats()
    app = create_app(settings, database=stoppable.database)
    caplog.set_level(logging.WARNING)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        # The second endpoint's read, after the first endpoint's chunks were sent.
        listener.arm(command_on("find", "chat_buckets", 2))
        answer = await client.get(chats_url(runner_id))

    assert listener.stopped.is_set()
    assert answer.status_code == 200
    # The body ended (no broken connection) inside the first endpoint's records or right
    # after them: not valid JSON, so the client can tell it is incomplete.
    assert answer.text.startswith('{"echo-a":[')
    assert len(answer.content) > CHUNK_BYTES
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    ended = [record for record in caplog.records if "ended early" in record.getMessage()]
    assert len(ended) == 1
    assert ended[0].exc_info is None
    assert runner_id in ended[0].getMessage()
    assert "mongodb://" not in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_session_of_another_workspace_is_not_found(
    settings: Settings, outage: tuple[StoppableDatabase, StopOnCommand]
):
    stoppable, _ = outage
    await create_endpoint("echo-a", workspace="elsewhere")
    theirs = await create_runner("Theirs", endpoints=["echo-a"], workspace="elsewhere")
    app = create_app(settings, database=stoppable.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        answer = await client.get(chats_url(theirs))
    assert answer.status_code == 404
