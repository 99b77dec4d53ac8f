"""Prompting over HTTP: Moonshot's prompt route, 202 past the wait, cancel, batches, live events."""

import asyncio

import httpx
import pytest

from models import ChatRecord, PromptBatch
from models.chats import RUN_FIELDS
from service.api import api_get_all_chats_from_session
from service.api.events import follow_events
from service.http import create_app
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.settings import Settings
from tests.factories import create_endpoint, create_runner
from tests.support.asgi import app_lifespan
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.live_server import live_server
from tests.support.sse import ServerEvent, server_events

PROMPT_INFO = {"current_runner_id", "current_chats", "current_batch_size", "current_status"}
RECORD_FIELDS = set(ChatRecord.model_fields) - {"sent_by"} - RUN_FIELDS


async def slow_endpoint(fake: FakeOpenAI, name: str, latency_s: float) -> str:
    fake.behaviours[name] = Behaviour(latency_s=latency_s)
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
        params={"timeout": 30, "max_attempts": 1},
    )


def prompt_path(runner_id: str, suffix: str = "prompt") -> str:
    return f"/api/v1/sessions/{runner_id}/{suffix}"


class TestPrompt:
    async def test_answers_moonshots_prompt_info(self, client, post_session):
        await post_session("Side By Side")
        response = await client.post(
            prompt_path("side-by-side"), json={"user_prompt": "Hello", "history_length": 5}
        )
        assert response.status_code == 200, response.text
        info = response.json()
        assert set(info) == PROMPT_INFO
        assert info["current_runner_id"] == "side-by-side"
        assert info["current_status"] == "COMPLETED" and info["current_batch_size"] == 2
        assert sorted(info["current_chats"]) == ["echo-a", "echo-b"]
        (record,) = info["current_chats"]["echo-a"]
        assert set(record) == RECORD_FIELDS
        assert record["predicted_result"] == "Hello" and isinstance(record["duration"], str)
        history = (await client.get("/api/v1/sessions/side-by-side?include_history=true")).json()
        assert history["chat_records"]["echo-b"][0]["prompt"] == "Hello"

    async def test_wait_false_answers_202_with_the_batch(self, client, app, post_session):
        await post_session("Later")
        response = await client.post(
            prompt_path("later") + "?wait=false", json={"user_prompt": "Hi"}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) >= PROMPT_INFO and body["status"] in ("queued", "running")
        await app.state[TASK_QUEUE_STATE_KEY].wait_idle()
        batch = await client.get(prompt_path("later", f"batches/{body['batch_id']}"))
        assert batch.status_code == 200
        assert batch.json()["status"] == "done"
        assert sorted(batch.json()["current_chats"]) == ["echo-a", "echo-b"]

    async def test_past_the_wait_202_holds_what_landed(self, settings, db, fake_openai, endpoints):
        await slow_endpoint(fake_openai, "slow", 1.5)
        await create_runner("Mixed", endpoints=["echo-a", "slow"])
        app = create_app(settings.model_copy(update={"prompt_wait_s": 0.8}), database=db)
        async with app_lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://[::1]") as client:
                response = await client.post(prompt_path("mixed"), json={"user_prompt": "Hi"})
                assert response.status_code == 202, response.text
                assert list(response.json()["current_chats"]) == ["echo-a"]
                assert response.json()["current_status"] == "RUNNING"
                await app.state[TASK_QUEUE_STATE_KEY].wait_idle()

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({}, ["body", "user_prompt"]),
            ({"user_prompt": ""}, ["body", "user_prompt"]),
            ({"user_prompt": ["a"]}, ["body", "user_prompt"]),
            ({"user_prompt": "Hi", "history_length": -1}, ["body", "history_length"]),
            ({"user_prompt": "Hi", "history_length": "ten"}, ["body", "history_length"]),
        ],
    )
    async def test_bad_bodies_are_422_and_queue_nothing(self, client, post_session, body, loc):
        await post_session("Strict")
        response = await client.post(prompt_path("strict"), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"][0]["loc"] == loc
        assert await PromptBatch.find_all().count() == 0

    async def test_unknown_session_and_bad_wait(self, client, post_session):
        response = await client.post(prompt_path("nope"), json={"user_prompt": "Hi"})
        assert response.status_code == 404 and "nope" in response.json()["detail"]
        await post_session("Waits")
        bad = await client.post(prompt_path("waits") + "?wait=soon", json={"user_prompt": "Hi"})
        assert bad.status_code == 422
        assert await PromptBatch.find_all().count() == 0


class TestCancel:
    async def test_cancel_stops_what_is_left(self, client, app, fake_openai, endpoints):
        await slow_endpoint(fake_openai, "slow", 1.0)
        await create_runner("Stoppable", endpoints=["echo-a", "slow"])
        posted = await client.post(
            prompt_path("stoppable") + "?wait=false", json={"user_prompt": "Hi"}
        )
        batch_id = posted.json()["batch_id"]
        # The echo answer lands first; cancel while the slow one is still out.
        for _ in range(200):
            landed = (await client.get(prompt_path("stoppable", f"batches/{batch_id}"))).json()
            if landed["current_chats"]:
                break
            await asyncio.sleep(0.01)
        cancelled = await client.post(prompt_path("stoppable", "cancel"))
        assert cancelled.status_code == 200
        assert cancelled.json() == {"success": True, "cancelled": [batch_id], "runs": []}
        await app.state[TASK_QUEUE_STATE_KEY].wait_idle()
        batch = (await client.get(prompt_path("stoppable", f"batches/{batch_id}"))).json()
        assert batch["status"] == "cancelled" and list(batch["current_chats"]) == ["echo-a"]
        chats = await api_get_all_chats_from_session("stoppable")
        assert [record["predicted_result"] for record in chats["echo-a"]] == ["Hi"]
        assert chats["slow"] == []

    async def test_unknown_session_and_batch_are_404(self, client, post_session):
        assert (await client.post(prompt_path("nope", "cancel"))).status_code == 404
        await post_session("Quiet")
        assert (await client.post(prompt_path("quiet", "cancel"))).json()["cancelled"] == []
        missing = await client.get(prompt_path("quiet", "batches/nope"))
        assert missing.status_code == 404


class TestEventsInProcess:
    async def test_replay_and_bad_last_event_ids(self, client, post_session):
        await post_session("Replayed")
        await client.post(prompt_path("replayed"), json={"user_prompt": "Hi"})
        events = prompt_path("replayed", "events")
        replay = await client.get(events, params={"follow": "false", "last_event_id": 0})
        assert replay.status_code == 200
        assert replay.headers["content-type"].startswith("text/event-stream")
        ids = [int(line[4:]) for line in replay.text.splitlines() if line.startswith("id: ")]
        assert ids == [1, 2, 3, 4, 5]
        resumed = await client.get(
            events, params={"follow": "false"}, headers={"Last-Event-ID": "3"}
        )
        assert [int(line[4:]) for line in resumed.text.splitlines() if line.startswith("id: ")] \
            == [4, 5]
        for bad in ({"headers": {"Last-Event-ID": "x"}}, {"params": {"last_event_id": -1}}):
            response = await client.get(events, **bad)
            assert response.status_code == 422, response.text
        assert (await client.get(prompt_path("nope", "events"))).status_code == 404


async def read_until(stream: httpx.Response, done: callable, into: list[ServerEvent]) -> None:
    async with asyncio.timeout(30):
        async for event in server_events(stream):
            into.append(event)
            if done(event):
                return


def batch_done(event: ServerEvent) -> bool:
    return event.event == "batch" and event.data["status"] in ("done", "failed", "cancelled")


async def test_live_events_in_order_resumed_across_a_restart(settings, db, fake_openai):
    """Over real HTTP: records arrive in order as they land; the service restarts mid-batch
    (its in-process queue stops with tasks unfinished); reconnecting with Last-Event-ID gets
    the rest, each record once."""
    # A grace too short to let running prompts finish: the stop cuts them short, as a crash would.
    settings = settings.model_copy(update={"shutdown_grace_s": 1.0})
    for name, latency in (("quick", 0.05), ("slower", 1.0), ("slowest", 1.3)):
        await slow_endpoint(fake_openai, name, latency)
    await create_runner("Live Run", endpoints=["quick", "slower", "slowest"])
    before: list[ServerEvent] = []
    async with (
        live_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("GET", prompt_path("live-run", "events")) as stream,
    ):
        assert stream.status_code == 200
        posted = await http.post(
            prompt_path("live-run") + "?wait=false", json={"user_prompt": "Hi"}
        )
        assert posted.status_code == 202
        await read_until(stream, lambda event: event.event == "chat_record", before)
    # Stopped with two endpoints still to answer; their tasks run again after the start.
    assert [event.data["status"] for event in before[:2]] == ["queued", "running"]
    assert before[-1].data["conn_id"] == "quick"
    after: list[ServerEvent] = []
    headers = {"Last-Event-ID": str(before[-1].id)}
    async with (
        live_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("GET", prompt_path("live-run", "events"), headers=headers) as stream,
    ):
        await read_until(stream, batch_done, after)
    seen = before + after
    assert [event.id for event in seen] == list(range(1, len(seen) + 1))
    stored = [event async for event in follow_events("live-run", after=0, follow=False)]
    assert [(event.seq, event.name) for event in stored] == [(e.id, e.event) for e in seen]
    records = [event.data["conn_id"] for event in seen if event.event == "chat_record"]
    # The two called again after the start race each other on a loaded machine: their order
    # is the order they landed in, which the ids above already check against the store.
    assert records[0] == "quick" and sorted(records[1:]) == ["slower", "slowest"]
    assert after[-1].data["status"] == "done"
    chats = await api_get_all_chats_from_session("live-run")
    assert {endpoint: len(records) for endpoint, records in chats.items()} == {
        "quick": 1, "slower": 1, "slowest": 1,
    }
    # The two cut short by the stop were called again after the start, and appended once.
    assert [len(fake_openai.calls_for(name)) for name in ("quick", "slower", "slowest")] == [
        1, 2, 2,
    ]


async def test_settings_expose_the_wait():
    assert Settings(prompt_wait_s=0).prompt_wait_s == 0
