"""`X-Request-ID`: taken when well formed, made otherwise, echoed on every answer, and on every
log line a request causes (uvicorn's access line and the prompt tasks it queued included)."""

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from service.database import Database
from service.http import create_app
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.request_context import MAX_REQUEST_ID_LENGTH
from service.settings import Settings
from tests.support.live_server import live_server
from tests.support.logs import captured_logs, json_lines

GENERATED = re.compile(r"[0-9a-f]{32}")


def answered_id(response: httpx.Response) -> str:
    values = response.headers.get_list("x-request-id")
    assert len(values) == 1, values
    return values[0]


class TestTheHeader:
    @pytest.mark.parametrize(
        "given",
        ["abc-123", "0f3c9a6e2b7d4e1f8a5c3b2d1e0f9a8b", "svc.gateway_7-1",
         "A" * MAX_REQUEST_ID_LENGTH],
    )
    async def test_a_well_formed_id_is_echoed(self, live_client, given):
        response = await live_client.get("/health", headers={"X-Request-ID": given})
        assert response.status_code == 200
        assert answered_id(response) == given

    async def test_without_one_each_request_gets_a_new_id(self, live_client):
        first = answered_id(await live_client.get("/health"))
        second = answered_id(await live_client.get("/health"))
        assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
        assert first != second

    @pytest.mark.parametrize(
        "junk",
        [
            "",
            "has space",
            "A" * (MAX_REQUEST_ID_LENGTH + 1),
            '"quoted"',
            '{"level":"ERROR"}',
            "-starts-with-a-dash",
            "../../etc/passwd",
            "id;rm -rf",
            "tab\there",
            "caf\u00e9",
        ],
    )
    async def test_junk_is_replaced_never_echoed(self, live_url, junk):
        async with httpx.AsyncClient(base_url=live_url) as client:
            headers = [(b"x-request-id", junk.encode("utf-8"))]
            response = await client.get("/health", headers=headers)
        assert response.status_code == 200
        assert GENERATED.fullmatch(answered_id(response))

    async def test_a_second_header_does_not_add_a_second_answer_header(self, live_url):
        async with httpx.AsyncClient(base_url=live_url) as client:
            headers = [(b"x-request-id", b"first-id"), (b"x-request-id", b"second-id")]
            response = await client.get("/health", headers=headers)
        assert answered_id(response) == "first-id"

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/no/such/route", 404),
            ("GET", "/api/v1/sessions/no-such-session", 404),
            ("DELETE", "/health", 405),
        ],
    )
    async def test_errors_carry_it_too(self, live_client, method, path, status):
        response = await live_client.request(method, path, headers={"X-Request-ID": "err-1"})
        assert response.status_code == status
        assert answered_id(response) == "err-1"

    async def test_a_validation_error_carries_it(self, live_client):
        response = await live_client.post(
            "/api/v1/sessions", json={"name": "x"}, headers={"X-Request-ID": "bad-body-1"}
        )
        assert response.status_code == 422
        assert answered_id(response) == "bad-body-1"

    async def test_a_streamed_answer_carries_it(
        self, live_client, session_body: Callable[..., dict[str, Any]]
    ):
        created = await live_client.post("/api/v1/sessions", json=session_body("Streamed"))
        assert created.status_code == 200, created.text
        async with live_client.stream(
            "GET", "/api/v1/sessions/streamed/events", params={"follow": "false"},
            headers={"X-Request-ID": "stream-1"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert answered_id(response) == "stream-1"


class TestTheLog:
    @pytest.fixture
    def json_settings(self, settings: Settings) -> Settings:
        return Settings(**{**settings.model_dump(), "log_level": "INFO", "log_format": "json"})

    @pytest.fixture
    async def logged(
        self, json_settings: Settings, db: Database
    ) -> AsyncIterator[tuple[Litestar, str, list]]:
        """A live server logging JSON into a buffer: (app, its URL, the buffer in a list)."""
        app = create_app(json_settings, database=db)
        with captured_logs(json_settings) as buffer:
            async with live_server(app, json_settings) as url:
                yield app, url, [buffer]

    async def test_every_line_a_request_causes_holds_its_id(
        self, logged, endpoints, session_body: Callable[..., dict[str, Any]]
    ):
        app, url, (buffer,) = logged
        requests = [
            ("POST", "/api/v1/sessions", session_body("Logged"), 200),
            ("POST", "/api/v1/sessions/logged/prompt", {"user_prompt": "Hi"}, 200),
            ("GET", "/api/v1/sessions/nowhere", None, 404),
            ("DELETE", "/api/v1/sessions/logged", None, 200),
        ]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for number, (method, path, body, status) in enumerate(requests):
                request_id = f"logged-{number}"
                start = len(buffer.getvalue())
                response = await client.request(
                    method, path, json=body, headers={"X-Request-ID": request_id}
                )
                assert response.status_code == status, response.text
                # What the request queued runs in process: its lines come before this returns.
                await app.state[TASK_QUEUE_STATE_KEY].wait_idle()
                caused = json_lines(buffer.getvalue()[start:])
                access = [line for line in caused if line["logger"] == "uvicorn.access"]
                assert len(access) == 1 and f'"{method} {path} HTTP/1.1" {status}' in (
                    access[0]["message"]
                )
                assert {line.get("request_id") for line in caused} == {request_id}, caused
        lines = json_lines(buffer.getvalue())
        # The prompt's tasks ran (taskiq logs each) and logged under the prompt's request id.
        executed = [line for line in lines if line["message"].startswith("Executing task")]
        assert len(executed) == len(endpoints)
        assert {line["request_id"] for line in executed} == {"logged-1"}
