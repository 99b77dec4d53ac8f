"""Live event streams over real HTTP: capped per API key and per workspace, released on close,
and fed by the app's notifier (new events in order, resumed with Last-Event-ID)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from litestar import Litestar

from models import EventKind, Role
from service.api.events import log_event
from service.api.sessions.store import find_session
from service.api.stream_slots import StreamSlots
from service.http import create_app
from service.http.live_state import STREAM_SLOTS_STATE_KEY
from service.settings import Settings
from tests.factories import create_key, create_session
from tests.support.live_server import live_server
from tests.support.sse import server_events

WA, WB = "wa", "wb"
PER_KEY, PER_WORKSPACE = 2, 3


@pytest.fixture
def stream_settings(required_settings: Settings) -> Settings:
    return Settings(**{
        **required_settings.model_dump(),
        "max_streams_per_key": PER_KEY,
        "max_streams_per_workspace": PER_WORKSPACE,
    })


@pytest.fixture
def stream_app(stream_settings: Settings, db) -> Litestar:
    return create_app(stream_settings, database=db)


@pytest.fixture
async def url(stream_app: Litestar) -> AsyncIterator[str]:
    async with live_server(stream_app) as served:
        yield served


def events_path(runner_id: str) -> str:
    return f"/api/v1/sessions/{runner_id}/events"


async def open_stream(
    stack: AsyncExitStack, url: str, key: str, runner_id: str, **headers: str
) -> httpx.Response:
    client = await stack.enter_async_context(
        httpx.AsyncClient(base_url=url, timeout=30, headers={"authorization": f"Bearer {key}"})
    )
    return await stack.enter_async_context(
        client.stream("GET", events_path(runner_id), headers=headers)
    )


async def until_released(slots: StreamSlots, holder_streams: int, key_workspace: str) -> None:
    """Wait until the server has noticed a closed stream and given its slot back."""
    # The count lives in the server's state; the disconnect reaches it a moment later.
    for _ in range(500):
        if slots.held(workspace=key_workspace) <= holder_streams:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still {slots.held(workspace=key_workspace)} streams held")


async def test_streams_are_capped_per_key_and_per_workspace_and_released_on_close(
    db, url, stream_app
):
    alice = await create_key("alice", Role.OWNER, workspace=WA)
    bob = await create_key("bob", Role.VIEWER, workspace=WA)
    dave = await create_key("dave", Role.OWNER, workspace=WB)
    mine = await create_session("mine", ["echo-a"], workspace=WA)
    theirs = await create_session("theirs", ["echo-a"], workspace=WB)
    slots: StreamSlots = stream_app.state[STREAM_SLOTS_STATE_KEY]
    async with AsyncExitStack() as first, AsyncExitStack() as rest:
        # At the key's limit: accepted.
        kept = await open_stream(rest, url, alice, mine)
        closing = await open_stream(first, url, alice, mine)
        assert (kept.status_code, closing.status_code) == (200, 200)
        # One past it: 429 with Retry-After, and nothing held for it.
        refused = await open_stream(rest, url, alice, mine)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        await refused.aread()
        assert "per API key" in refused.json()["detail"]
        assert slots.held(workspace=WA) == 2
        # The workspace's cap counts every key in it.
        assert (await open_stream(rest, url, bob, mine)).status_code == 200
        by_workspace = await open_stream(rest, url, bob, mine)
        assert by_workspace.status_code == 429
        await by_workspace.aread()
        assert "per workspace" in by_workspace.json()["detail"]
        # Another workspace is not held back by this one.
        assert (await open_stream(rest, url, dave, theirs)).status_code == 200
        # An attacker in the other workspace cannot stream this one's session.
        assert (await open_stream(rest, url, dave, mine)).status_code == 404
        # Closing one gives its slot back: the next is accepted.
        await first.aclose()
        await until_released(slots, 2, WA)
        assert (await open_stream(rest, url, alice, mine)).status_code == 200
    await until_released(slots, 0, WA)
    assert slots.held(workspace=WB) == 0


async def test_new_events_arrive_in_order_and_resume_after_last_event_id(db, url):
    alice = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("followed", ["echo-a"], workspace=WA)
    epoch = (await find_session(runner_id, WA)).created_epoch

    async def log(fact: str) -> None:
        await log_event(WA, runner_id, epoch, fact, EventKind.BATCH, "b", status=fact)

    await log("one")
    await log("two")
    async with AsyncExitStack() as stack:
        stream = await open_stream(stack, url, alice, runner_id, **{"Last-Event-ID": "1"})
        assert stream.status_code == 200
        seen = []
        async with asyncio.timeout(20):
            async for event in server_events(stream):
                seen.append((event.id, event.data["status"]))
                if event.id == 2:
                    await log("three")
                if event.id == 3:
                    break
        assert seen == [(2, "two"), (3, "three")]


async def test_a_bad_last_event_id_is_refused_and_holds_no_slot(db, url, stream_app):
    alice = await create_key("alice", Role.OWNER, workspace=WA)
    runner_id = await create_session("bad", ["echo-a"], workspace=WA)
    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"authorization": f"Bearer {alice}"}
    ) as client:
        for _ in range(PER_KEY + 1):
            response = await client.get(events_path(runner_id), headers={"Last-Event-ID": "x"})
            assert response.status_code == 422
    assert stream_app.state[STREAM_SLOTS_STATE_KEY].held(workspace=WA) == 0
