"""A live event stream over real HTTP rides out a database outage: it stays open, tells the
client (a comment and a `retry:` hint), and once the database is back goes on with every
event, in order; a client that reconnects with Last-Event-ID misses nothing either."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from models import EventKind, Role
from service.api.events import log_event
from service.api.sessions.store import find_session
from service.http import create_app
from service.http.controllers.prompting import OUTAGE_COMMENT, RETRY_MS
from service.settings import Settings
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_key, create_session
from tests.support.live_server import live_server
from tests.support.sse import server_events
from tests.support.stoppable_database import StoppableDatabase, stoppable_database

WA, WB = "wa", "wb"
# Every wait below ends on something the stream sends; this only bounds a broken one.
STREAM_TIMEOUT_S = 60


@pytest.fixture
async def outage(tmp_path) -> AsyncIterator[StoppableDatabase]:
    async with stoppable_database(tmp_path, bucket_size=TEST_BUCKET_SIZE) as database:
        yield database


@dataclass
class Message:
    """One message of the stream as sent: its fields, comments included."""

    fields: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    message = Message()
    async for line in response.aiter_lines():
        if line == "":
            yield message
            message = Message()
        elif line.startswith(":"):
            message.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            message.fields[name] = value.removeprefix(" ")


async def test_a_stream_open_during_an_outage_is_told_and_misses_nothing_after(
    required_settings: Settings, outage: StoppableDatabase
):
    key = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("followed", ["echo-a"], workspace=WA)
    epoch = (await find_session(runner_id, WA)).created_epoch

    async def log(fact: str) -> None:
        await log_event(WA, runner_id, epoch, fact, EventKind.BATCH, "b", status=fact)

    await log("one")
    app = create_app(required_settings, database=outage.database)
    headers = {"authorization": f"Bearer {key}"}
    async with (
        live_server(app) as url,
        httpx.AsyncClient(base_url=url, timeout=STREAM_TIMEOUT_S, headers=headers) as client,
        client.stream("GET", f"/api/v1/sessions/{runner_id}/events?last_event_id=0") as stream,
    ):
        assert stream.status_code == 200
        seen: list[tuple[str, str]] = []
        hints: list[Message] = []
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            async for message in messages(stream):
                if "data" in message.fields:
                    seen.append((message.fields["id"], message.fields["data"]))
                    if message.fields["id"] == "1":
                        # Everything stored so far is sent: now the database goes away.
                        await outage.stop()
                    if message.fields["id"] == "3":
                        break
                elif OUTAGE_COMMENT in message.comments:
                    hints.append(message)
                    if len(hints) == 2:
                        # Told twice, still open: the database comes back, and more happens.
                        await outage.start()
                        await log("two")
                        await log("three")
        assert [seq for seq, _ in seen] == ["1", "2", "3"]
        assert all('"status":"' in data for _, data in seen)
        # A reconnect hint no shorter than the usual one, and no data in the hint itself.
        assert all(int(hint.fields["retry"]) >= RETRY_MS for hint in hints)
        assert all("data" not in hint.fields for hint in hints)

        resumed = await client.get(
            f"/api/v1/sessions/{runner_id}/events?follow=false",
            headers={"Last-Event-ID": "1"},
        )
        replayed = [event async for event in server_events(resumed)]
        assert [(event.id, event.data["status"]) for event in replayed] == [
            (2, "two"), (3, "three")
        ]


async def test_a_stream_ends_once_its_session_is_gone_after_an_outage(
    required_settings: Settings, outage: StoppableDatabase
):
    key = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("doomed", ["echo-a"], workspace=WA)
    app = create_app(required_settings, database=outage.database)
    headers = {"authorization": f"Bearer {key}"}
    async with (
        live_server(app) as url,
        httpx.AsyncClient(base_url=url, timeout=STREAM_TIMEOUT_S, headers=headers) as client,
        client.stream("GET", f"/api/v1/sessions/{runner_id}/events") as stream,
    ):
        assert stream.status_code == 200
        await outage.stop()
        told: list[Any] = []
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            async for message in messages(stream):
                if OUTAGE_COMMENT in message.comments and not told:
                    told.append(message)
                    await outage.start()
                    deleted = await client.delete(f"/api/v1/sessions/{runner_id}")
                    assert deleted.status_code == 200
        # The loop ended because the server ended the stream, not by the timeout.
        assert told


async def test_during_an_outage_a_new_stream_is_refused_with_retry_after(
    required_settings: Settings, outage: StoppableDatabase
):
    key = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("later", ["echo-a"], workspace=WA)
    app = create_app(required_settings, database=outage.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        await outage.stop()
        refused = await client.get(
            f"/api/v1/sessions/{runner_id}/events", params={"access_token": key}
        )
        await outage.start()
        accepted = await client.get(
            f"/api/v1/sessions/{runner_id}/events",
            params={"access_token": key, "follow": "false"},
        )
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert accepted.status_code == 200


async def test_a_bad_last_event_id_is_422_before_the_database_is_asked_for_events(
    required_settings: Settings, outage: StoppableDatabase
):
    key = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("picky", ["echo-a"], workspace=WA)
    app = create_app(required_settings, database=outage.database)
    headers = {"authorization": f"Bearer {key}", "Last-Event-ID": "soon"}
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.get(f"/api/v1/sessions/{runner_id}/events", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"][0]["loc"] == ["header", "Last-Event-ID"]
    assert response.json()["error"][0]["input"] == "soon"


async def test_another_workspace_cannot_follow_the_session_after_an_outage(
    required_settings: Settings, outage: StoppableDatabase
):
    await create_key("alice", Role.OWNER, workspace=WA)
    dave = await create_key("dave", Role.OWNER, workspace=WB)
    runner_id = await create_session("private", ["echo-a"], workspace=WA)
    app = create_app(required_settings, database=outage.database)
    headers = {"authorization": f"Bearer {dave}"}
    async with (
        live_server(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client,
    ):
        await outage.stop()
        during = await client.get(f"/api/v1/sessions/{runner_id}/events")
        await outage.start()
        after = await client.get(f"/api/v1/sessions/{runner_id}/events")
    # During the outage nothing is known, so nothing is told; afterwards it is not theirs.
    assert during.status_code == 503
    assert after.status_code == 404
