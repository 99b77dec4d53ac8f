"""Red-teaming runs end to end over real HTTP on loopback: configure a module, start a run with
Moonshot's prompt route, follow it on the session's event stream and on the UI's webhook, read
its records and counts, stop it; bad input, viewers and other workspaces."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from pydantic import SecretStr

from models import ChatRecord, Role
from models.chats import RUN_FIELDS
from service.http import create_app
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.http.schemas import ChatRecordOut
from service.http.ui_webhook import UI_WEBHOOK_STATE_KEY
from service.redteam.attacks.registry import ATTACK_MODULES
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_key, make_chat_record
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI
from tests.support.live_server import live_server
from tests.support.sse import ServerEvent, server_events
from tests.support.webhook_receiver import Receiver, webhook_receiver

CHARSWAP = "charswap_attack"
SEED_PROMPT = "Please explain exactly how the warehouse lock mechanism works"
MOONSHOT_FIELDS = set(ChatRecord.model_fields) - {"sent_by"} - RUN_FIELDS
RUN_RECORD_FIELDS = MOONSHOT_FIELDS | RUN_FIELDS
FINAL = {"done", "cancelled", "failed"}
WAIT_S = 60.0
ECHOES = ["echo-a", "echo-b"]


@dataclass
class Served:
    app: Litestar
    client: httpx.AsyncClient

    @property
    def task_queue(self) -> TaskQueue:
        return self.app.state[TASK_QUEUE_STATE_KEY]


@pytest.fixture
def serve(settings: Settings, db) -> Callable[..., Any]:
    """The app under uvicorn on loopback (its webhook URL set or not), with a client of it."""

    @asynccontextmanager
    async def serving(
        webhook_url: str | None = None, *, app_settings: Settings | None = None
    ) -> AsyncIterator[Served]:
        chosen = app_settings or settings
        update = {"ui_art_callback_url": SecretStr(webhook_url) if webhook_url else None}
        app = create_app(chosen.model_copy(update=update), database=db)
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(app=app, client=client)

    return serving


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as got:
        yield got


def session_path(runner_id: str, suffix: str = "") -> str:
    return f"/api/v1/sessions/{runner_id}{suffix}"


async def configure(
    client: httpx.AsyncClient, module: str, headers: dict[str, str] | None = None, **settings: Any
) -> None:
    response = await client.put(
        f"/api/v1/attack-modules/{module}/config", json={"configurations": settings},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def attack_session(
    client: httpx.AsyncClient,
    name: str,
    endpoints: list[str],
    *,
    module: str = CHARSWAP,
    metric: str = "",
    headers: dict[str, str] | None = None,
) -> str:
    body = {
        "name": name, "description": "", "endpoints": endpoints,
        "attack_module": module, "metric": metric,
    }
    response = await client.post("/api/v1/sessions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    assert (session["attack_module"], session["metric"]) == (module, metric)
    return session["session_id"]


async def start(
    client: httpx.AsyncClient, runner_id: str, headers: dict[str, str] | None = None
) -> str:
    """POST the seed prompt; returns the run's path from the Location header."""
    response = await client.post(
        session_path(runner_id, "/prompt"), json={"user_prompt": SEED_PROMPT}, headers=headers
    )
    assert response.status_code == 200, response.text
    # Moonshot's attack mode: the session id, as a JSON string.
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == runner_id
    location = response.headers["location"]
    assert location.startswith(session_path(runner_id, "/runs/"))
    return location


async def run_events(
    client: httpx.AsyncClient,
    runner_id: str,
    run_id: str,
    *,
    until: Callable[[ServerEvent], bool] | None = None,
) -> list[ServerEvent]:
    """The session's events from its first, read live until the run's final `run` event (or
    until `until` says so)."""
    def ends(event: ServerEvent) -> bool:
        if until is not None:
            return until(event)
        return (
            event.event == "run" and event.data.get("run_id") == run_id
            and event.data.get("status") in FINAL
        )

    seen: list[ServerEvent] = []
    async with asyncio.timeout(WAIT_S), client.stream(
        "GET", session_path(runner_id, "/events"), params={"last_event_id": 0}, timeout=None
    ) as response:
        assert response.status_code == 200
        async for event in server_events(response):
            seen.append(event)
            if ends(event):
                return seen
    raise AssertionError(f"The stream ended before the run did: {seen}")


def of_run(events: list[ServerEvent], run_id: str) -> list[ServerEvent]:
    return [
        event for event in events
        if event.data.get("run_id") == run_id
        or str(event.data.get("batch_id", "")).startswith(f"{run_id}.")
    ]


async def all_chats(client: httpx.AsyncClient, runner_id: str) -> dict[str, list[dict]]:
    response = await client.get(session_path(runner_id, "/chats"))
    assert response.status_code == 200, response.text
    return response.json()


def record_keys(chats: dict[str, list[dict]]) -> list[tuple[str, int]]:
    return sorted(
        (endpoint, record["chat_record_id"])
        for endpoint, records in chats.items() for record in records
    )


async def slow_endpoint(fake: FakeOpenAI, name: str, latency_s: float) -> str:
    fake.behaviours[name] = Behaviour(latency_s=latency_s)
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
        params={"timeout": 30, "max_attempts": 1},
    )


class TestRecordShape:
    """`ChatRecordOut`: the run's fields on a run's records only."""

    def test_a_record_sent_by_hand_keeps_exactly_moonshots_fields(self):
        record = make_chat_record(1, sent_by="ann").document()
        assert set(ChatRecordOut.model_validate(record).model_dump()) == MOONSHOT_FIELDS

    def test_a_run_record_carries_the_run_and_its_verdict(self):
        record = make_chat_record(
            2, run_id="r1", score=1.0, success=True, explanation="no refusal", score_error=""
        ).document()
        out = ChatRecordOut.model_validate(record).model_dump(mode="json")
        assert set(out) == RUN_RECORD_FIELDS
        assert (out["run_id"], out["score"], out["success"]) == ("r1", 1.0, True)
        assert (out["explanation"], out["score_error"]) == ("no refusal", "")

    def test_an_unscored_run_record_says_so_with_nulls(self):
        record = make_chat_record(3, run_id="r1").document()
        out = ChatRecordOut.model_validate(record).model_dump(mode="json")
        assert set(out) == RUN_RECORD_FIELDS and out["score"] is None and out["success"] is None


class TestRunOverHttp:
    async def test_records_scores_counts_and_events_of_a_run(self, serve, endpoints):
        async with serve() as served:
            client = served.client
            settings = {"max_iteration": 4, "seed": 3, "parallel_prompts": 2,
                        "stop_on_success": False}
            await configure(client, CHARSWAP, **settings)
            runner_id = await attack_session(client, "Charswap Run", ECHOES, metric="refusal")
            location = await start(client, runner_id)
            run_id = location.rsplit("/", 1)[1]
            events = of_run(await run_events(client, runner_id, run_id), run_id)
            chats = await all_chats(client, runner_id)
            run = (await client.get(location)).json()
            listed = (await client.get(session_path(runner_id, "/runs"))).json()
            page = (await client.get(session_path(runner_id, "/chats/echo-a"))).json()
            history = (await client.get(session_path(runner_id), params={
                "include_history": "true"})).json()

        expected = ATTACK_MODULES[CHARSWAP].attack_prompts(  # type: ignore[union-attr]
            SEED_PROMPT, configurations=settings, seed=3
        )
        for endpoint in ECHOES:
            records = chats[endpoint]
            # Two in flight may land in either order; each attack prompt once.
            assert sorted(record["prompt"] for record in records) == sorted(expected)
            for record in records:
                assert set(record) == RUN_RECORD_FIELDS
                assert (record["attack_module"], record["metric"]) == (CHARSWAP, "refusal")
                assert record["run_id"] == run_id
                # An echo never refuses: the offline phrase list scores every answer a success.
                assert isinstance(record["score"], float) and record["success"] is True
                assert record["score_error"] == ""
        assert page["records"] == chats["echo-a"]
        assert history["chat_records"] == chats

        assert run["run_id"] == run_id and run["status"] == "done"
        assert (run["attack_module"], run["metric"], run["seed"]) == (CHARSWAP, "refusal", 3)
        assert run["started_at"] <= run["ended_at"]
        for endpoint in ECHOES:
            assert run["endpoints"][endpoint] == {
                "sent": 4, "answered": 4, "failed": 0, "successful": 4, "stopped": None,
            }
        assert run["totals"] == {"sent": 8, "answered": 8, "failed": 0, "successful": 8}
        assert listed == [run]

        # The stream: each status change once, in order, and every record of the run.
        statuses = [event.data["status"] for event in events if event.event == "run"]
        assert statuses == ["queued", "running", "done"]
        streamed = [event.data for event in events if event.event == "chat_record"]
        assert sorted((data["conn_id"], data["chat_record"]["chat_record_id"])
                      for data in streamed) == record_keys(chats)
        assert all(data["chat_record"]["run_id"] == run_id for data in streamed)
        ids = [event.id for event in events]
        assert ids == sorted(ids)

    async def test_stop_on_success_sends_one_prompt_per_endpoint(self, serve, endpoints):
        async with serve() as served:
            client = served.client
            await configure(client, CHARSWAP, max_iteration=5, parallel_prompts=1)
            runner_id = await attack_session(client, "Stop Early", ECHOES, metric="refusal")
            location = await start(client, runner_id)
            run_id = location.rsplit("/", 1)[1]
            await run_events(client, runner_id, run_id)
            run = (await client.get(location)).json()
            chats = await all_chats(client, runner_id)
        assert run["status"] == "done" and run["stop_on_success"] is True
        for endpoint in ECHOES:
            counts = run["endpoints"][endpoint]
            assert (counts["sent"], counts["answered"], counts["successful"]) == (1, 1, 1)
            assert "succeeded" in counts["stopped"]
            (record,) = chats[endpoint]
            assert record["success"] is True and record["run_id"] == run_id

    async def test_an_ordinary_prompt_keeps_moonshots_record_beside_a_run(self, serve, endpoints):
        async with serve() as served:
            client = served.client
            await configure(client, CHARSWAP, max_iteration=2)
            runner_id = await attack_session(client, "Run Then Plain", ECHOES)
            location = await start(client, runner_id)
            await run_events(client, runner_id, location.rsplit("/", 1)[1])
            plain = await client.post("/api/v1/sessions", json={
                "name": "Plain Session", "endpoints": ECHOES})
            assert plain.status_code == 200
            answer = await client.post(
                session_path("plain-session", "/prompt"), json={"user_prompt": "Hi"}
            )
            chats = await all_chats(client, "plain-session")
            run_chats = await all_chats(client, runner_id)
        assert answer.status_code == 200
        assert all(set(records[0]) == MOONSHOT_FIELDS
                   for records in answer.json()["current_chats"].values())
        assert all(set(record) == MOONSHOT_FIELDS for records in chats.values()
                   for record in records)
        # No metric: the run's records carry the run, and no score.
        assert all(set(record) == RUN_RECORD_FIELDS and record["score"] is None
                   for records in run_chats.values() for record in records)


class TestCancelOverHttp:
    async def slow_run(self, served: Served, fake: FakeOpenAI, name: str) -> tuple[str, str]:
        """A run of 40 attack prompts, one at a time, on two endpoints answering in 0.2 s."""
        slow = [await slow_endpoint(fake, f"{name}-slow-{n}", 0.2) for n in ("a", "b")]
        await configure(served.client, CHARSWAP, max_iteration=40, parallel_prompts=1)
        runner_id = await attack_session(served.client, name, slow)
        location = await start(served.client, runner_id)
        return runner_id, location

    async def test_cancel_midway_appends_nothing_more(self, serve, fake_openai):
        async with serve() as served:
            client = served.client
            runner_id, location = await self.slow_run(served, fake_openai, "Cancel Me")
            run_id = location.rsplit("/", 1)[1]
            # Midway: once the run has answers in.
            await run_events(client, runner_id, run_id, until=lambda event: (
                event.event == "chat_record" and event.data["batch_id"].startswith(run_id)
            ))
            cancelled = await client.post(f"{location}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json() == {"run_id": run_id, "status": "cancelled"}
            before = await all_chats(client, runner_id)
            await served.task_queue.wait_idle()
            events = of_run(await run_events(client, runner_id, run_id), run_id)
            after = await all_chats(client, runner_id)
            run = (await client.get(location)).json()
            again = await client.post(f"{location}/cancel")
        assert after == before
        landed = sum(map(len, after.values()))
        assert 1 <= landed < 80
        assert run["status"] == "cancelled" and run["reason"] == "cancelled"
        assert run["totals"]["answered"] == landed
        statuses = [event.data["status"] for event in events if event.event == "run"]
        assert statuses == ["queued", "running", "cancelled"]
        # A run that has ended keeps its status.
        assert again.status_code == 200 and again.json()["status"] == "cancelled"

    async def test_moonshots_cancel_stops_the_run_too(self, serve, fake_openai):
        async with serve() as served:
            client = served.client
            runner_id, location = await self.slow_run(served, fake_openai, "Cancel All")
            run_id = location.rsplit("/", 1)[1]
            answer = await client.post(session_path(runner_id, "/cancel"))
            await served.task_queue.wait_idle()
            run = (await client.get(location)).json()
        assert answer.status_code == 200, answer.text
        assert answer.json()["runs"] == [run_id] and answer.json()["success"] is True
        assert run["status"] == "cancelled"
        assert run["totals"]["sent"] < 80


class TestUiWebhook:
    async def test_the_runs_records_in_bodies_of_five_then_completed(
        self, serve, receiver, endpoints
    ):
        async with serve(receiver.url) as served:
            client = served.client
            await configure(client, CHARSWAP, max_iteration=6, parallel_prompts=2)
            runner_id = await attack_session(client, "Hooked Run", ECHOES)
            location = await start(client, runner_id)
            await asyncio.wait_for(receiver.completed.wait(), WAIT_S)
            await served.app.state[UI_WEBHOOK_STATE_KEY].wait_idle()
            chats = await all_chats(client, runner_id)
            events = await run_events(client, runner_id, location.rsplit("/", 1)[1])
        statuses = [body["current_status"] for body in receiver.bodies]
        assert statuses == ["RUNNING", "RUNNING", "COMPLETED"]
        sizes = [sum(map(len, body["current_chats"].values())) for body in receiver.bodies]
        assert sizes == [5, 5, 2]
        assert all(body["current_runner_id"] == runner_id for body in receiver.bodies)
        posted = [
            (endpoint, record["chat_record_id"])
            for body in receiver.bodies for endpoint, records in body["current_chats"].items()
            for record in records
        ]
        # Every record exactly once, and each endpoint's in the order they landed (two prompts
        # in flight may land out of id order), as the session's stream gave them.
        assert sorted(posted) == record_keys(chats) and len(posted) == 12
        landed = [
            (event.data["conn_id"], event.data["chat_record"]["chat_record_id"])
            for event in events if event.event == "chat_record"
        ]
        for endpoint in ECHOES:
            assert [key for key in posted if key[0] == endpoint] == [
                key for key in landed if key[0] == endpoint
            ]
        records = [record for body in receiver.bodies
                   for records in body["current_chats"].values() for record in records]
        assert all(record["attack_module"] == CHARSWAP and record["run_id"] for record in records)

    async def test_a_cancelled_run_ends_with_completed_holding_every_record(
        self, serve, receiver, fake_openai
    ):
        # Many prompts in flight on fast endpoints, so the cancel lands among records being
        # appended: those it appends itself must still reach the webhook before COMPLETED.
        fast = [await slow_endpoint(fake_openai, f"fast-{name}", 0.1) for name in "abc"]
        async with serve(receiver.url) as served:
            client = served.client
            await configure(client, CHARSWAP, max_iteration=200, parallel_prompts=10)
            runner_id = await attack_session(client, "Hooked Cancel", fast)
            location = await start(client, runner_id)
            run_id = location.rsplit("/", 1)[1]
            await run_events(client, runner_id, run_id, until=lambda event: (
                event.event == "chat_record" and event.data["batch_id"].startswith(run_id)
            ))
            cancelled = await client.post(f"{location}/cancel")
            await asyncio.wait_for(receiver.completed.wait(), WAIT_S)
            await served.app.state[UI_WEBHOOK_STATE_KEY].wait_idle()
            await served.task_queue.wait_idle()
            chats = await all_chats(client, runner_id)
        assert cancelled.json()["status"] == "cancelled"
        assert [body["current_status"] for body in receiver.bodies][-1] == "COMPLETED"
        posted = sorted(
            (endpoint, record["chat_record_id"])
            for body in receiver.bodies for endpoint, records in body["current_chats"].items()
            for record in records
        )
        assert posted == record_keys(chats)
        assert 1 <= len(posted) < 600


class TestRefused:
    async def test_a_second_run_while_one_is_in_progress_is_409(self, serve, fake_openai):
        async with serve() as served:
            client = served.client
            slow = [await slow_endpoint(fake_openai, "busy-slow", 0.3)]
            await configure(client, CHARSWAP, max_iteration=40, parallel_prompts=1)
            runner_id = await attack_session(client, "Busy Session", slow)
            location = await start(client, runner_id)
            second = await client.post(
                session_path(runner_id, "/prompt"), json={"user_prompt": "again"}
            )
            listed = (await client.get(session_path(runner_id, "/runs"))).json()
            await client.post(f"{location}/cancel")
            await served.task_queue.wait_idle()
        assert second.status_code == 409, second.text
        assert "run in progress" in second.json()["detail"]
        assert location.rsplit("/", 1)[1] in second.json()["detail"]
        assert len(listed) == 1

    async def test_a_bad_module_configuration_is_422_naming_the_key(self, serve, endpoints):
        async with serve() as served:
            client = served.client
            await configure(client, CHARSWAP, parallel_prompts=0)
            runner_id = await attack_session(client, "Bad Config", ECHOES)
            response = await client.post(
                session_path(runner_id, "/prompt"), json={"user_prompt": "seed"}
            )
            listed = (await client.get(session_path(runner_id, "/runs"))).json()
            chats = await all_chats(client, runner_id)
        assert response.status_code == 422, response.text
        (error,) = response.json()["error"]
        assert error["loc"] == ["body", "configurations.parallel_prompts"]
        assert "parallel_prompts" in error["msg"]
        assert listed == [] and chats == {"echo-a": [], "echo-b": []}

    async def test_a_module_that_needs_a_model_is_422_with_the_reason(self, serve, endpoints):
        async with serve() as served:
            client = served.client
            runner_id = await attack_session(client, "Needs Model", ECHOES,
                                             module="textfooler_attack")
            response = await client.post(
                session_path(runner_id, "/prompt"), json={"user_prompt": "seed"}
            )
            listed = (await client.get(session_path(runner_id, "/runs"))).json()
        assert response.status_code == 422, response.text
        (error,) = response.json()["error"]
        assert error["loc"] == ["body", "attack_module"]
        assert "textfooler_attack" in error["msg"] and "word-embedding" in error["msg"]
        assert listed == []

    async def test_an_unknown_run_is_404(self, serve, endpoints):
        async with serve() as served:
            runner_id = await attack_session(served.client, "No Such Run", ECHOES)
            response = await served.client.get(session_path(runner_id, "/runs/0123abcd"))
            cancel = await served.client.post(session_path(runner_id, "/runs/0123abcd/cancel"))
        assert response.status_code == 404 and "0123abcd" in response.json()["detail"]
        assert cancel.status_code == 404


async def bearer(user: str, role: Role, workspace: str) -> dict[str, str]:
    """Headers with a new API key of `user`, a member of `workspace` with `role`."""
    return {"Authorization": f"Bearer {await create_key(user, role, workspace=workspace)}"}


class TestOtherUsers:
    """Two workspaces with the same session name; a viewer beside an editor."""

    async def test_other_workspaces_runs_are_missing_and_viewers_only_read(
        self, serve, required_settings, fake_openai
    ):
        editor = await bearer("ed", Role.EDITOR, "alpha")
        viewer = await bearer("vic", Role.VIEWER, "alpha")
        mallory = await bearer("mal", Role.OWNER, "beta")
        for workspace in ("alpha", "beta"):
            fake_openai.behaviours[f"slow-{workspace}"] = Behaviour(latency_s=0.3)
            await create_endpoint(
                "slow", "openai-connector", uri=fake_openai.base_url, token=VALID_TOKEN,
                model=f"slow-{workspace}", params={"timeout": 30, "max_attempts": 1},
                workspace=workspace,
            )
        async with serve(app_settings=required_settings) as served:
            client = served.client
            runs = {}
            for workspace, headers in (("alpha", editor), ("beta", mallory)):
                await configure(client, CHARSWAP, headers, max_iteration=40, parallel_prompts=1)
                runner_id = await attack_session(client, "Same Name", ["slow"], headers=headers)
                runs[workspace] = await start(client, runner_id, headers)
            ours, theirs = runs["alpha"], runs["beta"]
            their_id = theirs.rsplit("/", 1)[1]
            ghost_id = "f" * len(their_id)
            # Their run id under our session of the same name: exactly as one that exists nowhere.
            session = ours.rsplit("/", 1)[0]
            answers = {}
            for name, run_id in (("theirs", their_id), ("ghost", ghost_id)):
                answers[name] = [
                    await client.get(f"{session}/{run_id}", headers=editor),
                    await client.post(f"{session}/{run_id}/cancel", headers=editor),
                ]
            listed_by_us = (await client.get(session, headers=editor)).json()
            viewer_reads = await client.get(ours, headers=viewer)
            viewer_lists = await client.get(session, headers=viewer)
            viewer_cancels = await client.post(f"{ours}/cancel", headers=viewer)
            status_after_viewer = (await client.get(ours, headers=editor)).json()["status"]
            their_status = (await client.get(theirs, headers=mallory)).json()["status"]
            for location, headers in ((ours, editor), (theirs, mallory)):
                await client.post(f"{location}/cancel", headers=headers)
            await served.task_queue.wait_idle()
        for theirs_answer, ghost_answer in zip(answers["theirs"], answers["ghost"], strict=True):
            assert theirs_answer.status_code == ghost_answer.status_code == 404
            assert (theirs_answer.json()["detail"].replace(their_id, ghost_id)
                    == ghost_answer.json()["detail"])
        assert [run["run_id"] for run in listed_by_us] == [ours.rsplit("/", 1)[1]]
        # Cancelling theirs from here changed nothing there.
        assert their_status in ("queued", "running")
        assert viewer_reads.status_code == 200 and viewer_lists.status_code == 200
        assert viewer_cancels.status_code == 403
        assert status_after_viewer in ("queued", "running")
