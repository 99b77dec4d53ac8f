"""What one request may store or cost, over real HTTP: each limit accepted at its value, one past
it a 422 naming the field and the limit, and nothing stored."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from models import PromptBatch, PromptTask, Runner, Session
from service.api import api_load_session
from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.factories import create_endpoint
from tests.support.live_server import live_server

DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


@contextlib.asynccontextmanager
async def served(
    settings: Settings, db: Database, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with some limits changed, under uvicorn on loopback."""
    app = create_app(Settings(**{**settings.model_dump(), **overrides}), database=db)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield client


def refusal(response: httpx.Response, loc: list[str], *limit_words: str) -> str:
    """The one validation error of a 422, at `loc`, its message naming the limit."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["error"]
    assert error["loc"] == loc
    for word in limit_words:
        assert word in error["msg"], (word, error["msg"])
    return str(error["msg"])


async def stored_session(runner_id: str) -> dict[str, Any]:
    loaded = await api_load_session(runner_id)
    assert loaded is not None
    return loaded


class TestEndpointsPerSession:
    async def test_50_endpoints_accepted_51_refused_and_not_created(self, live_client, db):
        assert DEFAULTS["max_endpoints_per_session"] == 50
        ids = [await create_endpoint(f"echo-{number}") for number in range(51)]
        response = await live_client.post(
            "/api/v1/sessions", json={"name": "fifty", "endpoints": ids[:50]}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["session"]["endpoints"]) == 50
        response = await live_client.post(
            "/api/v1/sessions", json={"name": "fifty-one", "endpoints": ids}
        )
        refusal(response, ["body", "endpoints"], "at most 50", "SPARRING_MAX_ENDPOINTS_PER_SESSION")
        assert await Runner.find(Runner.runner_id == "fifty-one").count() == 0
        assert await Session.find(Session.session_id == "fifty-one").count() == 0

    async def test_a_repeated_endpoint_is_422_naming_it(self, live_client, endpoints):
        response = await live_client.post(
            "/api/v1/sessions", json={"name": "twice", "endpoints": [*endpoints, endpoints[0]]}
        )
        message = refusal(response, ["body", "endpoints"], "more than once")
        assert repr(endpoints[0]) in message
        assert (await live_client.get("/api/v1/sessions/name")).json() == []

    async def test_the_limit_is_a_setting(self, settings, db, endpoints):
        async with served(settings, db, max_endpoints_per_session=1) as client:
            response = await client.post(
                "/api/v1/sessions", json={"name": "two", "endpoints": endpoints}
            )
            refusal(response, ["body", "endpoints"], "at most 1 ")
            response = await client.post(
                "/api/v1/sessions", json={"name": "one", "endpoints": endpoints[:1]}
            )
            assert response.status_code == 200


class TestSystemPrompt:
    LIMIT = 100_000

    async def test_create_at_the_limit_accepted_one_past_refused(self, live_client, session_body):
        assert DEFAULTS["max_system_prompt_chars"] == self.LIMIT
        response = await live_client.post(
            "/api/v1/sessions", json=session_body("at limit", system_prompt="s" * self.LIMIT)
        )
        assert response.status_code == 200, response.text
        response = await live_client.post(
            "/api/v1/sessions",
            json=session_body("past limit", system_prompt="s" * (self.LIMIT + 1)),
        )
        refusal(
            response, ["body", "system_prompt"], "at most 100000 characters",
            "SPARRING_MAX_SYSTEM_PROMPT_CHARS",
        )
        assert (await live_client.get("/api/v1/sessions/name")).json() == ["at-limit"]

    async def test_put_at_the_limit_accepted_one_past_refused(self, live_client, session_body):
        await live_client.post("/api/v1/sessions", json=session_body("prompted"))
        route = "/api/v1/sessions/prompted/system-prompt"
        response = await live_client.put(route, json={"system_prompt": "s" * self.LIMIT})
        assert response.status_code == 200, response.text
        before = await stored_session("prompted")
        response = await live_client.put(route, json={"system_prompt": "t" * (self.LIMIT + 1)})
        refusal(response, ["body", "system_prompt"], "at most 100000", "it has 100001")
        assert await stored_session("prompted") == before

    async def test_patch_one_past_refused(self, live_client, session_body):
        await live_client.post("/api/v1/sessions", json=session_body("patched"))
        before = await stored_session("patched")
        response = await live_client.patch(
            "/api/v1/sessions/patched",
            json={"system_prompt": "t" * (self.LIMIT + 1), "metric": "exactstrmatch"},
            headers={"If-Match": "*"},
        )
        refusal(response, ["body", "system_prompt"], "SPARRING_MAX_SYSTEM_PROMPT_CHARS")
        assert await stored_session("patched") == before


class TestPreviousPrompts:
    async def test_create_100_accepted_101_refused(self, live_client, session_body):
        assert DEFAULTS["max_prev_prompts"] == 100
        response = await live_client.post(
            "/api/v1/sessions", json=session_body("hundred", cs_num_of_prev_prompts=100)
        )
        assert response.status_code == 200
        response = await live_client.post(
            "/api/v1/sessions", json=session_body("too many", cs_num_of_prev_prompts=101)
        )
        refusal(
            response, ["body", "cs_num_of_prev_prompts"], "at most 100", "SPARRING_MAX_PREV_PROMPTS"
        )
        assert (await live_client.get("/api/v1/sessions/name")).json() == ["hundred"]

    async def test_put_context_strategy_101_changes_nothing(self, live_client, session_body):
        await live_client.post("/api/v1/sessions", json=session_body("ctx"))
        base = "/api/v1/sessions/ctx/context-strategy/add_previous_prompt"
        assert (await live_client.put(f"{base}/100")).status_code == 200
        await live_client.delete(f"{base}/0")
        before = await stored_session("ctx")
        response = await live_client.put(f"{base}/101")
        refusal(response, ["path", "num_of_prompt"], "at most 100", "it is 101")
        # Neither the strategy nor the count changed.
        assert await stored_session("ctx") == before

    async def test_put_and_patch_the_count_101_refused(self, live_client, session_body):
        await live_client.post("/api/v1/sessions", json=session_body("counted"))
        route = "/api/v1/sessions/counted/cs-num-of-prev-prompts"
        response = await live_client.put(route, json={"cs_num_of_prev_prompts": 100})
        assert response.status_code == 200
        before = await stored_session("counted")
        response = await live_client.put(route, json={"cs_num_of_prev_prompts": 101})
        refusal(response, ["body", "cs_num_of_prev_prompts"], "SPARRING_MAX_PREV_PROMPTS")
        response = await live_client.patch(
            "/api/v1/sessions/counted", json={"cs_num_of_prev_prompts": 101},
            headers={"If-Match": "*"},
        )
        refusal(response, ["body", "cs_num_of_prev_prompts"], "at most 100")
        assert await stored_session("counted") == before


class TestPromptTemplate:
    async def test_at_the_limit_accepted_one_past_refused(self, live_client):
        assert DEFAULTS["max_template_chars"] == 20_000
        # A template of plain text around the prompt compiles at any length.
        body = "x" * (20_000 - len("{{ prompt }}"))
        response = await live_client.post(
            "/api/v1/prompt-templates", json={"name": "long", "template": body + "{{ prompt }}"}
        )
        assert response.is_success, response.status_code
        response = await live_client.post(
            "/api/v1/prompt-templates",
            json={"name": "longer", "template": "y" + body + "{{ prompt }}"},
        )
        refusal(response, ["body", "template"], "at most 20000", "SPARRING_MAX_TEMPLATE_CHARS")
        names = (await live_client.get("/api/v1/prompt-templates/name")).json()
        assert "long" in names and "longer" not in names


class TestPromptAnswer:
    """endpoints x (prompt + prepared prompt + system prompt) must stay within the limit."""

    async def test_at_the_limit_accepted_one_past_refused(self, settings, db, endpoints):
        # Two endpoints, no context, no template: 2 x (prompt + prompt + system prompt).
        async with served(settings, db, max_prompt_answer_chars=2 * (100 + 100 + 10)) as client:
            response = await client.post(
                "/api/v1/sessions",
                json={"name": "costly", "endpoints": endpoints, "system_prompt": "s" * 10},
            )
            assert response.status_code == 200, response.text
            route = "/api/v1/sessions/costly/prompt"
            response = await client.post(route, json={"user_prompt": "p" * 100})
            assert response.status_code == 200, response.text
            assert len(response.json()["current_chats"]) == 2
            batches = await PromptBatch.count()
            response = await client.post(route, json={"user_prompt": "p" * 101})
            refusal(
                response, ["body", "user_prompt"], "at most 420",
                "SPARRING_MAX_PROMPT_ANSWER_CHARS",
            )
            assert await PromptBatch.count() == batches
            assert await PromptTask.count() == 2

    async def test_the_context_a_strategy_may_add_counts(self, settings, db, endpoints):
        async with served(
            settings, db, max_prompt_answer_chars=1_000, max_context_chars=400
        ) as client:
            response = await client.post(
                "/api/v1/sessions",
                json={
                    "name": "contextual", "endpoints": endpoints[:1],
                    "context_strategy": "add_previous_prompt", "cs_num_of_prev_prompts": 3,
                },
            )
            assert response.status_code == 200, response.text
            route = "/api/v1/sessions/contextual/prompt"
            # 1 x (300 + 300 + 400) = 1,000: at the limit.
            assert (await client.post(route, json={"user_prompt": "p" * 300})).status_code == 200
            response = await client.post(route, json={"user_prompt": "p" * 301})
            refusal(response, ["body", "user_prompt"], "up to 1002 characters")

    async def test_the_defaults_refuse_the_reported_flood(self, live_client):
        # The case: 50 endpoints, a 100,000-character system prompt and prompt.
        assert DEFAULTS["max_prompt_answer_chars"] == 10_000_000
        ids = [await create_endpoint(f"echo-{number}") for number in range(50)]
        response = await live_client.post(
            "/api/v1/sessions",
            json={"name": "flood", "endpoints": ids, "system_prompt": "s" * 100_000},
        )
        assert response.status_code == 200, response.text
        response = await live_client.post(
            "/api/v1/sessions/flood/prompt?wait=false", json={"user_prompt": "p" * 100_000}
        )
        refusal(response, ["body", "user_prompt"], "up to 15000000 characters", "at most 10000000")
        assert await PromptBatch.count() == 0 and await PromptTask.count() == 0

    async def test_a_lower_setting_refuses_sooner(self, settings, db):
        async with served(settings, db, max_template_chars=100) as client:
            route = "/api/v1/prompt-templates"
            at = "a" * (100 - len("{{ prompt }}")) + "{{ prompt }}"
            response = await client.post(route, json={"name": "at", "template": at})
            assert response.is_success, response.text
            response = await client.post(route, json={"name": "past", "template": "b" + at})
            refusal(response, ["body", "template"], "at most 100 characters")
