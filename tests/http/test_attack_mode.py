"""Attack mode over real HTTP: the session id at once, then progress on the UI's webhook."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from pydantic import SecretStr

from service.api import api_get_all_chats_from_session
from service.http import create_app
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.http.ui_webhook import UI_WEBHOOK_STATE_KEY
from tests.factories import create_endpoint, create_runner
from tests.support.live_server import live_server
from tests.support.webhook_receiver import WEBHOOK_PATH, Receiver, webhook_receiver

ATTACK = "sample_attack_module"
BODY_KEYS = {"current_runner_id", "current_chats", "current_batch_size", "current_status"}
# A token in the webhook's URL, which must never reach a log.
URL_SECRET = "hook-s3cret"
WAIT_S = 60.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as got:
        yield got


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://user:{URL_SECRET}@127.0.0.1:{port}{WEBHOOK_PATH}?token={URL_SECRET}"


async def attack_runner(name: str, endpoint_count: int, **runner_args: str) -> tuple[str, list]:
    endpoints = [await create_endpoint(f"{name}-echo-{number}") for number in range(endpoint_count)]
    runner_id = await create_runner(name, endpoints=endpoints, **runner_args)
    return runner_id, endpoints


@dataclass
class Served:
    app: Litestar
    client: httpx.AsyncClient


@pytest.fixture
def serve(settings, db):
    """Serve the app with the webhook URL set (or not) over real HTTP on loopback."""

    @asynccontextmanager
    async def serving(webhook_url: str | None) -> AsyncIterator[Served]:
        update = {"ui_art_callback_url": SecretStr(webhook_url) if webhook_url else None}
        app = create_app(settings.model_copy(update=update), database=db)
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(app=app, client=client)

    return serving


def records_of(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        record for body in bodies for records in body["current_chats"].values()
        for record in records
    ]


class TestAttackMode:
    async def test_answers_the_session_id_and_posts_progress_in_order(self, serve, receiver):
        runner_id, endpoints = await attack_runner("Attack Run", 7, attack_module=ATTACK)
        async with serve(receiver.url) as served:
            response = await served.client.post(
                f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": "Hi"}
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("application/json")
            assert response.json() == runner_id
            await asyncio.wait_for(receiver.completed.wait(), WAIT_S)
            await served.app.state[UI_WEBHOOK_STATE_KEY].wait_idle()
        statuses = [body["current_status"] for body in receiver.bodies]
        assert statuses == ["RUNNING", "COMPLETED"]
        assert all(set(body) == BODY_KEYS for body in receiver.bodies)
        assert all(body["current_runner_id"] == runner_id for body in receiver.bodies)
        records = records_of(receiver.bodies)
        assert [len(records_of([body])) for body in receiver.bodies] == [5, 2]
        assert sorted(record["conn_id"] for record in records) == sorted(endpoints)
        # Moonshot's record over HTTP: the duration as text; the attack module recorded.
        assert all(isinstance(record["duration"], str) for record in records)
        assert all(record["attack_module"] == ATTACK for record in records)
        stored = await api_get_all_chats_from_session(runner_id)
        assert sum(map(len, stored.values())) == 7

    async def test_without_an_attack_module_the_answer_is_as_before(self, serve, receiver):
        runner_id, _ = await attack_runner("Plain Run", 2)
        async with serve(receiver.url) as served:
            response = await served.client.post(
                f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": "Hi"}
            )
            assert response.status_code == 200, response.text
            assert set(response.json()) == BODY_KEYS
            assert response.json()["current_status"] == "COMPLETED"
            await served.app.state[UI_WEBHOOK_STATE_KEY].wait_idle()
        assert receiver.bodies == []

    async def test_without_a_webhook_the_run_still_completes(self, serve):
        runner_id, _ = await attack_runner("Quiet Run", 2, attack_module=ATTACK)
        async with serve(None) as served:
            assert served.app.state[UI_WEBHOOK_STATE_KEY] is None
            response = await served.client.post(
                f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": "Hi"}
            )
            assert response.json() == runner_id
            await served.app.state[TASK_QUEUE_STATE_KEY].wait_idle()
        stored = await api_get_all_chats_from_session(runner_id)
        assert sum(map(len, stored.values())) == 2

    async def test_a_webhook_that_is_down_fails_nothing_and_is_logged_once(self, serve, caplog):
        runner_id, _ = await attack_runner("Down Run", 7, attack_module=ATTACK)
        # Every logger at every level: none may show the URL's secrets.
        caplog.set_level(logging.DEBUG)
        async with serve(closed_port_url()) as served:
            response = await served.client.post(
                f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": "Hi"}
            )
            assert response.status_code == 200 and response.json() == runner_id
            await asyncio.wait_for(served.app.state[UI_WEBHOOK_STATE_KEY].wait_idle(), WAIT_S)
            await served.app.state[TASK_QUEUE_STATE_KEY].wait_idle()
        stored = await api_get_all_chats_from_session(runner_id)
        assert sum(map(len, stored.values())) == 7
        failures = [
            record for record in caplog.records
            if record.name == "service.http.ui_webhook" and record.levelno >= logging.WARNING
        ]
        # Two bodies were due (5 records, then 2 and COMPLETED); one line says so.
        assert len(failures) == 1
        assert "ConnectError" in failures[0].getMessage()
        assert URL_SECRET not in caplog.text and "user:" not in caplog.text

    async def test_an_unknown_session_is_404(self, serve, receiver):
        async with serve(receiver.url) as served:
            response = await served.client.post(
                "/api/v1/sessions/no-such-session/prompt", json={"user_prompt": "Hi"}
            )
        assert response.status_code == 404 and "detail" in response.json()
        assert receiver.bodies == []
