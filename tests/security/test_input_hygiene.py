"""What a body may hold: one value per key, no control characters in names, and 422s in one
shape whose `loc` says where the field was (body, path, query or header)."""

import pytest

from tests.factories import create_endpoint, create_session
from tests.security.conftest import WA

SESSIONS = "/api/v1/sessions"
ENDPOINTS = "/api/v1/llm-endpoints"
TEMPLATES = "/api/v1/prompt-templates"
SPOTS = ("body", "path", "query", "header")


@pytest.fixture
async def echo(world) -> str:
    await create_endpoint("echo-a", workspace=WA)
    return "echo-a"


class TestDuplicateKeys:
    @pytest.mark.parametrize(
        ("path", "body", "loc"),
        [
            (
                SESSIONS,
                '{"name": "Harmless", "endpoints": ["echo-a"], "name": "Other Name"}',
                ["body", "name"],
            ),
            (
                ENDPOINTS,
                '{"name": "dup", "connector_type": "echo", "params": {"x": 1, "y": [{"z": 1, '
                '"z": 2}]}}',
                ["body", "params", "y", 0, "z"],
            ),
            (
                SESSIONS,
                '{"name": "Second", "endpoints": ["echo-a"], "metric": "", "metric": "x"}',
                ["body", "metric"],
            ),
        ],
        ids=["top-level", "nested", "last-would-win"],
    )
    async def test_a_repeated_key_is_422_naming_it_and_nothing_is_stored(
        self, world, echo, path, body, loc
    ):
        async with world.client(world.alice) as client:
            response = await client.post(path, content=body)
            assert response.status_code == 422, response.text
            (error,) = response.json()["error"]
            assert error["loc"] == loc
            assert error["input"] == loc[-1]
            assert error["msg"] and error["type"]
            assert (await client.get(f"{path}/name")).json() == (
                [] if path == SESSIONS else ["echo-a"]
            )

    async def test_equal_keys_in_different_objects_are_fine(self, world):
        body = (
            '{"name": "twins", "connector_type": "echo", "params": {"a": {"k": 1}, "b": {"k": 2}}}'
        )
        async with world.client(world.alice) as client:
            assert (await client.post(ENDPOINTS, content=body)).status_code == 200


class TestControlCharacters:
    @pytest.mark.parametrize("bad", ["nul\x00name", "bell\x07name", "new\nline", "esc\x1b[31m"])
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            (SESSIONS, {"endpoints": ["echo-a"]}),
            (ENDPOINTS, {"connector_type": "echo"}),
            (TEMPLATES, {"template": "{{ prompt }}"}),
        ],
        ids=["session", "endpoint", "template"],
    )
    async def test_in_a_name_are_422(self, world, echo, path, body, bad):
        async with world.client(world.alice) as client:
            response = await client.post(path, json={"name": bad, **body})
            assert response.status_code == 422, response.text
            assert response.json()["error"][0]["loc"] == ["body", "name"]

    async def test_in_an_endpoint_rename_are_422(self, world, echo):
        async with world.client(world.alice) as client:
            response = await client.put(f"{ENDPOINTS}/{echo}", json={"name": "re\x00named"})
            assert response.status_code == 422, response.text
            assert response.json()["error"][0]["loc"] == ["body", "name"]

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            (SESSIONS, {"name": "Described", "endpoints": ["echo-a"]}),
            (TEMPLATES, {"name": "described", "template": "{{ prompt }}"}),
        ],
        ids=["session", "template"],
    )
    async def test_descriptions_keep_line_breaks_and_tabs_but_not_nul(
        self, world, echo, path, body
    ):
        async with world.client(world.alice) as client:
            refused = await client.post(path, json={**body, "description": "a\x00b"})
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"][0]["loc"] == ["body", "description"]
            kept = await client.post(path, json={**body, "description": "line\n\tnext\r\n"})
            assert kept.status_code in (200, 201), kept.text


class TestOneShapeOf422:
    async def test_an_unknown_endpoint_in_the_body_answers_moonshots_detail(self, world, echo):
        async with world.client(world.alice) as client:
            response = await client.post(
                SESSIONS, json={"name": "Lost", "endpoints": ["echo-a", "nowhere"]}
            )
        assert response.status_code == 422, response.text
        assert response.json() == {"detail": "[Runner] Connector endpoint nowhere does not exist."}

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", SESSIONS, {"name": "ab", "endpoints": []}),
            ("POST", SESSIONS, {"name": "Lost", "endpoints": ["nowhere"]}),
            ("GET", f"{SESSIONS}?limit=0", None),
            ("GET", f"{SESSIONS}/name?offset=-1", None),
            ("PUT", f"{SESSIONS}/run/context-strategy/x/-1", None),
            ("POST", f"{SESSIONS}/run/prompt", {"user_prompt": ""}),
            ("POST", "/api/v1/admin/keys", {"label": 5}),
            ("GET", "/api/v1/admin/audit?cursor=elsewhere", None),
        ],
    )
    async def test_every_loc_starts_with_where_the_field_was(
        self, world, echo, method, path, body
    ):
        await create_session("run", endpoints=["echo-a"], workspace=WA)
        async with world.client(world.alice) as client:
            response = await client.request(method, path, json=body)
        # Not a validation failure (an unknown name among them): `{"detail": ...}` only.
        if response.status_code != 422 or "error" not in response.json():
            assert set(response.json()) == {"detail"}, response.text
            return
        for error in response.json()["error"]:
            assert error["loc"] and error["loc"][0] in SPOTS, response.text


class TestJsonMediaType:
    async def test_required_mode_also_wants_json(self, world, echo):
        async with world.client(world.alice) as client:
            response = await client.post(
                SESSIONS,
                content='{"name": "Plain", "endpoints": ["echo-a"]}',
                headers={"content-type": "text/plain"},
            )
            assert response.status_code == 415, response.text
            assert set(response.json()) == {"detail"}
            assert (await client.get(f"{SESSIONS}/name")).json() == []
