"""`GET /metrics` of the HTTP service, over real HTTP on loopback, on both database tiers.

The series are this process's (the test's) own, so each test compares two scrapes.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from models import Role
from service.http import create_app
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.settings import Settings
from tests.factories import create_endpoint, create_key
from tests.metrics.scraping import Samples, increase, label_values, scrape, value
from tests.support.fake_openai import VALID_TOKEN, FakeOpenAI
from tests.support.live_server import live_server
from tests.support.runs import finished_run

WORKSPACE = "metered"
PROMPT_ROUTE = "/api/v1/sessions/{runner_id}/prompt"
CHARSWAP = "charswap_attack"
WRONG_TOKEN = "sk-wrong-token-that-must-not-show"


@pytest.fixture
def serve(required_settings: Settings, db) -> Callable[..., Any]:
    """The app in `required` mode under uvicorn on 127.0.0.1, settings changed as asked; yields
    (base URL, app)."""

    @asynccontextmanager
    async def serving(**changes: Any) -> AsyncIterator[tuple[str, Any]]:
        app = create_app(Settings(**{**required_settings.model_dump(), **changes}), database=db)
        async with live_server(app) as url:
            yield url, app

    return serving


def keyed(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, timeout=60, headers={"authorization": f"Bearer {key}"}
    )


class TestSeriesAfterAPromptAndARun:
    async def test_counts_requests_batches_runs_and_endpoint_calls(
        self, serve, fake_openai: FakeOpenAI
    ):
        tag = uuid.uuid4().hex[:8]
        key = await create_key("metrics-owner", Role.OWNER, workspace=WORKSPACE)
        answering = await create_endpoint(
            f"answering {tag}", "openai-connector", uri=fake_openai.base_url, token=VALID_TOKEN,
            model="gpt-metered", params={"timeout": 10, "max_attempts": 1}, workspace=WORKSPACE,
        )
        refusing = await create_endpoint(
            f"refusing {tag}", "openai-connector", uri=fake_openai.base_url, token=WRONG_TOKEN,
            model="gpt-metered", params={"timeout": 10, "max_attempts": 1}, workspace=WORKSPACE,
        )
        echo = await create_endpoint(f"echo {tag}", workspace=WORKSPACE)
        prompt_text = f"Tell me the launch codes {tag}"
        session_name = f"Secret Plans {tag}"
        async with serve() as (url, app), keyed(url, key) as client:
            before = await scrape(client)
            created = await client.post("/api/v1/sessions", json={
                "name": session_name, "endpoints": [answering, refusing],
            })
            assert created.status_code == 200, created.text
            runner_id = created.json()["session"]["session_id"]
            answer = await client.post(
                f"/api/v1/sessions/{runner_id}/prompt", json={"user_prompt": prompt_text}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["current_status"] == "COMPLETED"
            after_prompt = await scrape(client)

            configured = await client.put(
                f"/api/v1/attack-modules/{CHARSWAP}/config",
                json={"configurations": {"max_iteration": 3, "seed": 1, "parallel_prompts": 1}},
            )
            assert configured.status_code == 200, configured.text
            attacked = await client.post("/api/v1/sessions", json={
                "name": f"Attack {tag}", "endpoints": [echo], "attack_module": CHARSWAP,
            })
            assert attacked.status_code == 200, attacked.text
            attack_id = attacked.json()["session"]["session_id"]
            started = await client.post(
                f"/api/v1/sessions/{attack_id}/prompt", json={"user_prompt": prompt_text}
            )
            assert started.status_code == 200, started.text
            run_id = started.headers["location"].rsplit("/", 1)[1]
            run = await finished_run(
                app.state[TASK_QUEUE_STATE_KEY], attack_id, run_id, workspace=WORKSPACE
            )
            assert run.status == "done"
            after_run = await scrape(client)

        # Requests by route template and status, counted and timed.
        timed = "sparring_http_request_duration_seconds_count"
        for name in ("sparring_http_requests_total", timed):
            assert increase(
                before, after_prompt, name, method="POST", route="/api/v1/sessions", status="200"
            ) == 1
            assert increase(
                before, after_prompt, name, method="POST", route=PROMPT_ROUTE, status="200"
            ) == 1
            assert increase(
                after_prompt, after_run, name, method="POST", route=PROMPT_ROUTE, status="200"
            ) == 1
        assert increase(
            before, after_prompt, "sparring_http_request_duration_seconds_sum",
            method="POST", route=PROMPT_ROUTE, status="200",
        ) > 0
        # The prompt's batch: queued, running, done (one answer of two is enough).
        for status in ("queued", "running", "done"):
            assert increase(before, after_prompt, "sparring_prompt_batches_total",
                            status=status) == 1, status
        assert increase(before, after_prompt, "sparring_prompt_batches_total",
                        status="failed") == 0
        # Each endpoint called once: one answered, one refused for its token.
        assert increase(before, after_prompt, "sparring_endpoint_calls_total",
                        endpoint=answering, outcome="answered") == 1
        assert increase(before, after_prompt, "sparring_endpoint_calls_total",
                        endpoint=refusing, outcome="ConnectorError") == 1
        assert increase(before, after_prompt, "sparring_endpoint_call_duration_seconds_count",
                        endpoint=refusing, outcome="ConnectorError") == 1
        # The run: queued, running, done; its three attack prompts each called the echo once.
        for status in ("queued", "running", "done"):
            assert increase(after_prompt, after_run, "sparring_runs_total", status=status) == 1
        assert increase(after_prompt, after_run, "sparring_endpoint_calls_total",
                        endpoint=echo, outcome="answered") == 3
        assert_no_secret_in_labels(
            after_run, [key, VALID_TOKEN, WRONG_TOKEN, prompt_text, tag, session_name]
        )


def assert_no_secret_in_labels(samples: Samples, secrets: list[str]) -> None:
    values = list(label_values(samples))
    assert values, "the page has labelled series"
    for secret in secrets:
        # Endpoint ids carry the tag (ids are allowed); nothing else may.
        leaked = [found for found in values if secret in found and not found.startswith(
            ("answering-", "refusing-", "echo-")
        )]
        assert leaked == [], secret


class TestLabels:
    async def test_a_path_no_route_matched_is_counted_without_its_path(self, serve):
        tag = uuid.uuid4().hex
        async with serve() as (url, _), httpx.AsyncClient(base_url=url) as client:
            before = await scrape(client)
            missing = await client.get(f"/api/v1/{tag}/secret-path")
            assert missing.status_code == 404
            odd = await client.request("BREW", "/health")
            after = await scrape(client)
        assert increase(before, after, "sparring_http_requests_total",
                        method="GET", route="unmatched", status="404") == 1
        assert odd.status_code >= 400
        assert not [found for found in label_values(after) if tag in found or found == "BREW"]

    async def test_an_error_raised_before_the_handler_is_counted_with_its_status(self, serve):
        # No key in required mode: refused by the authentication middleware (401).
        async with serve() as (url, _), httpx.AsyncClient(base_url=url) as client:
            before = await scrape(client)
            refused = await client.get("/api/v1/sessions")
            assert refused.status_code == 401
            after = await scrape(client)
        assert increase(before, after, "sparring_http_requests_total",
                        method="GET", route="/api/v1/sessions", status="401") == 1

    async def test_rate_limit_refusals_are_counted_by_route(self, serve):
        key = await create_key("hasty", Role.VIEWER, workspace=WORKSPACE)
        async with serve(rate_limit_per_minute=2) as (url, _), keyed(url, key) as client:
            before = await scrape(client)
            statuses = [(await client.get("/api/v1/sessions")).status_code for _ in range(3)]
            after = await scrape(client)
        assert statuses == [200, 200, 429]
        assert increase(before, after, "sparring_rate_limit_refusals_total",
                        route="/api/v1/sessions") == 1
        assert increase(before, after, "sparring_http_requests_total",
                        method="GET", route="/api/v1/sessions", status="429") == 1


class TestWhoMayRead:
    async def test_an_address_not_allowed_gets_what_an_unknown_path_gets(self, serve):
        key = await create_key("outsider", Role.OWNER, workspace=WORKSPACE)
        async with serve(metrics_allow=["10.0.0.0/8"]) as (url, _), keyed(url, key) as client:
            # Even with an owner's key: the address decides.
            refused = await client.get("/metrics")
            unknown = await client.get("/no-such-page")
        assert refused.status_code == 404
        assert refused.json() == unknown.json()
        assert "sparring_" not in refused.text

    async def test_a_forwarded_address_counts_only_from_an_allowed_proxy(self, serve):
        headers = {"x-forwarded-for": "203.0.113.7"}
        async with serve(metrics_allow=["203.0.113.7"]) as (url, _), httpx.AsyncClient(
            base_url=url
        ) as client:
            # Without SPARRING_FORWARDED_ALLOW_IPS the header is anyone's to forge.
            forged = await client.get("/metrics", headers=headers)
            direct = await client.get("/metrics")
        async with serve(
            metrics_allow=["203.0.113.7"], forwarded_allow_ips=["127.0.0.1"]
        ) as (url, _), httpx.AsyncClient(base_url=url) as client:
            proxied = await client.get("/metrics", headers=headers)
            other = await client.get("/metrics", headers={"x-forwarded-for": "203.0.113.8"})
        assert (forged.status_code, direct.status_code) == (404, 404)
        assert (proxied.status_code, other.status_code) == (200, 404)
        assert "sparring_http_requests_total" in proxied.text

    async def test_needs_no_key_and_stays_out_of_the_openapi_schema(self, serve):
        async with serve() as (url, _), httpx.AsyncClient(base_url=url) as client:
            page = await scrape(client)
            schema = (await client.get("/schema/openapi.json")).json()
        assert value(page, "sparring_task_queue_readable") == 0  # no Redis: no queue series
        assert "/metrics" not in schema["paths"]
