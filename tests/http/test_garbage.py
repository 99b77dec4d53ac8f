"""Garbage sent to every route of the app never gets a 500: client input is a 4xx or works."""

import itertools
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.support.answers import json_invalid

PATH_VALUES = [
    "garbage-run", "no-such", "x" * 300, "Ünï cödé", "a|b", "-1", "99999999999999999999"
]
LARGEST = str(2**63 - 1)
QUERIES: list[dict[str, Any]] = [
    {},
    {"limit": "-5", "offset": "x", "cursor": "1e99", "include_history": "perhaps"},
    {"limit": "99999999999999999999999", "cursor": "99999999999999999999", "offset": "1" * 30},
    {"limit": LARGEST, "offset": LARGEST, "cursor": LARGEST},
    {"endpoint": "\x00", "limit": ""},
]
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b"", {}),
    (b"\x00\xff\xfe garbage", JSON),
    (b"null", JSON),
    (b"[]", JSON),
    (b'"just a string"', JSON),
    (b"{" * 5000 + b"}" * 5000, JSON),
    (b'{"name": {"$gt": ""}, "endpoints": [{"$where": "1"}], "template": ["x"]}', JSON),
    (
        b'{"name": "overflowing", "endpoints": ["echo-a"], "cs_num_of_prev_prompts": '
        b'123456789012345678901234567890, "system_prompt": 1e400}',
        JSON,
    ),
    (b'{"cs_num_of_prev_prompts": 99999999999999999999999, "system_prompt": {"$set": 1}}', JSON),
    (b'{"name": "form", "endpoints": "echo-a"}', FORM),
    (b"name=form&endpoints=a", FORM),
    (b"--boundary\r\n", {"content-type": "multipart/form-data"}),
]
PARAM = re.compile(r"\{(\w+):\w+\}")


def http_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        # The OpenAPI pages are Litestar's own, answering HTML.
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            routes.append((method, route.path))
    return routes


def fill(path: str, value: str) -> str:
    return PARAM.sub(lambda _: value.replace("/", "%2F"), path)


@pytest.fixture
def app(settings: Settings, db: Database) -> Litestar:
    # Hundreds of requests in a few seconds: the rate limit would answer most of them.
    return create_app(settings.model_copy(update={"rate_limit_per_minute": 10**6}), database=db)


@pytest.fixture
async def garbage_run(post_session) -> None:
    await post_session("garbage run", metric="exactstrmatch")


async def test_no_route_answers_500_to_garbage(app, client, garbage_run):
    routes = http_routes(app)
    assert len(routes) >= 30
    failures: list[str] = []
    sent = 0
    for (method, path), value in itertools.product(routes, PATH_VALUES):
        url = fill(path, value)
        cases = zip(QUERIES, itertools.cycle(BODIES)) if method in ("GET", "DELETE") else (
            zip(itertools.cycle(QUERIES), BODIES)
        )
        for query, (body, headers) in cases:
            response = await client.request(
                method, url, params=query, content=body or None, headers=headers
            )
            sent += 1
            status, content_type = response.status_code, response.headers.get("content-type")
            if status == 429 or status >= 500 or not content_type:
                failures.append(f"{method} {url} {query} {body[:40]!r}: {response.status_code}")
            elif response.status_code >= 400:
                answer = response.json()
                if not ("detail" in answer or "error" in answer):
                    failures.append(f"{method} {url}: body {answer!r}")
    assert failures == []
    assert sent > len(routes) * len(PATH_VALUES)
    # Only well-formed requests changed anything: the one session was deleted, nothing created.
    assert (await client.get("/api/v1/sessions/name")).json() == []
    assert (await client.get("/api/v1/runners")).json() == []


NOT_JSON = [
    (b'{"name": "x", ', 14, "Expecting property name enclosed in double quotes"),
    (b"{nope", 1, "Expecting property name enclosed in double quotes"),
    (b'{"name": "x"} trailing', 14, "Extra data"),
    (b'{"name": "\xff"}', 10, "Invalid UTF-8: invalid start byte"),
    # Python's decoder takes NaN; the app's does not, and answers in the same shape.
    (b'{"name": NaN}', 9, "invalid character"),
]


@pytest.mark.parametrize(
    ("body", "offset", "message"),
    NOT_JSON,
    ids=["truncated", "bad-key", "extra-data", "bad-utf8", "nan"],
)
@pytest.mark.parametrize("path", ["/api/v1/sessions", "/api/v1/prompt-templates"])
async def test_a_body_that_is_not_json_is_422_json_invalid(client, path, body, offset, message):
    response = await client.post(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json() == json_invalid(offset, message)
    assert (await client.get("/api/v1/sessions/name")).json() == []
