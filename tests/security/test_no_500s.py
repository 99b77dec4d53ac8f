"""Requests that used to answer 500: JSON nested too deep, and a `limit` past any sane page."""

import pytest

from service.api.audit import list_changes
from service.api.errors import InvalidInput
from service.api.paging import MAX_LIMIT
from service.api.sessions.runners import list_runners
from service.api.sessions.views import list_session_summaries, read_chat_page
from service.http.guards import MAX_JSON_DEPTH
from tests.factories import create_endpoint, create_session
from tests.security.conftest import WA

DEEP = 100_000
LARGEST = str(2**63 - 1)


def nested(depth: int) -> bytes:
    """A JSON body whose arrays nest `depth` levels deep inside the top object."""
    return b'{"name": "Deep", "endpoints": ["e"], "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.fixture
async def session(world) -> str:
    await create_endpoint("echo-a", workspace=WA)
    await create_session("deep", endpoints=["echo-a"], workspace=WA)
    return "deep"


class TestDeepJson:
    @pytest.mark.parametrize(
        "body",
        [
            nested(DEEP),
            b"[" * DEEP + b"]" * DEEP,
            b'{"a":' * DEEP + b"1" + b"}" * DEEP,
            b'{"user_prompt": "hi", "history_length": ' + b"[" * DEEP,  # never closed
        ],
        ids=["arrays", "top-level-array", "objects", "unclosed"],
    )
    async def test_deep_json_is_400_on_create_and_prompt(self, world, session, body):
        async with world.client(world.alice) as client:
            for path in ("/api/v1/sessions", f"/api/v1/sessions/{session}/prompt"):
                response = await client.post(path, content=body)
                assert response.status_code == 400, (path, response.text)
                assert str(MAX_JSON_DEPTH) in response.json()["detail"]

    async def test_the_maximum_depth_is_the_documented_one(self, world):
        # The top object is one level; the params object below it, then its nesting.
        def endpoint(depth: int) -> bytes:
            inner = b'{"a": ' * (depth - 1) + b"1" + b"}" * (depth - 1)
            return b'{"name": "Deep %d", "connector_type": "echo", "params": %s}' % (depth, inner)

        async with world.client(world.alice) as client:
            at_most = await client.post("/api/v1/llm-endpoints", content=endpoint(MAX_JSON_DEPTH))
            assert at_most.status_code == 200, at_most.text
            over = await client.post("/api/v1/llm-endpoints", content=endpoint(MAX_JSON_DEPTH + 1))
            assert over.status_code == 400, over.text

    async def test_brackets_inside_strings_do_not_count(self, world, session):
        prompt = '{"user_prompt": "' + "[{" * 5000 + '\\"' + "}]" * 5000 + '"}'
        async with world.client(world.alice) as client:
            response = await client.post(f"/api/v1/sessions/{session}/prompt", content=prompt)
        assert response.status_code in (200, 202), response.text


class TestLimits:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/admin/audit",
            "/api/v1/sessions",
            "/api/v1/sessions/name",
            "/api/v1/runners",
        ],
    )
    @pytest.mark.parametrize("limit", [LARGEST, str(MAX_LIMIT + 1), "99999999999999999999999"])
    async def test_a_limit_past_the_maximum_is_422_naming_it(self, world, path, limit):
        async with world.client(world.alice) as client:
            response = await client.get(path, params={"limit": limit})
            assert response.status_code == 422, response.text
            assert response.json()["error"][0]["loc"] == ["query", "limit"]
            assert (await client.get(path, params={"limit": MAX_LIMIT})).status_code == 200

    async def test_the_maximum_is_in_the_openapi_document(self, world):
        async with world.client() as client:
            schema = (await client.get("/schema/openapi.json")).json()
        audit = schema["paths"]["/api/v1/admin/audit"]["get"]["parameters"]
        (limit,) = [parameter for parameter in audit if parameter["name"] == "limit"]
        assert limit["schema"]["maximum"] == MAX_LIMIT

    @pytest.mark.parametrize(
        "listing",
        [
            lambda limit: list_changes(workspace=WA, limit=limit),
            lambda limit: list_session_summaries(workspace=WA, limit=limit),
            lambda limit: list_runners(workspace=WA, limit=limit),
            lambda limit: read_chat_page("deep", "echo-a", workspace=WA, limit=limit),
        ],
        ids=["audit", "sessions", "runners", "chat-page"],
    )
    async def test_domain_listings_refuse_it_too(self, session, listing):
        with pytest.raises(InvalidInput) as raised:
            await listing(MAX_LIMIT + 1)
        assert raised.value.field == "limit"
        await listing(MAX_LIMIT)
