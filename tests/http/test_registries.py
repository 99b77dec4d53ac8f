"""Registry routes in Moonshot's shapes, adding a prompt template and setting a module's
endpoints and configurations, on both tiers."""

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from models import Role
from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.factories import create_endpoint, create_key
from tests.redteam.test_catalogue import (
    BUILT_IN_ATTACK_MODULES,
    BUILT_IN_METRICS,
    MOONSHOT_CONTEXT_STRATEGIES,
)
from tests.support.live_server import live_server

MODULE_KEYS = {"id", "name", "description", "endpoints", "configurations"}


class TestPromptTemplates:
    async def test_lists_built_ins_in_moonshots_shape(self, client):
        response = await client.get("/api/v1/prompt-templates")
        assert response.status_code == 200
        templates = response.json()
        assert all(set(item) == {"id", "name", "description", "template"} for item in templates)
        assert all(item["id"] == item["name"] for item in templates)
        by_name = {item["name"]: item for item in templates}
        assert "{{ prompt }}" in by_name["answer-template"]["template"]
        names = (await client.get("/api/v1/prompt-templates/name")).json()
        assert names == [item["name"] for item in templates]

    async def test_an_added_template_is_listed_and_usable(self, client, post_session):
        body = {"name": "polite", "description": "Says please.", "template": "Please: {{ prompt }}"}
        response = await client.post("/api/v1/prompt-templates", json=body)
        assert response.status_code == 201
        assert response.json() == {"id": "polite", **body}
        assert "polite" in (await client.get("/api/v1/prompt-templates/name")).json()
        await post_session("uses polite")
        response = await client.put("/api/v1/sessions/uses-polite/prompt-template/polite")
        assert response.status_code == 200

    @pytest.mark.parametrize("name", ["polite", "answer-template"])
    async def test_a_taken_name_is_409(self, client, name):
        body = {"name": "polite", "template": "{{ prompt }}"}
        assert (await client.post("/api/v1/prompt-templates", json=body)).status_code == 201
        response = await client.post(
            "/api/v1/prompt-templates", json={"name": name, "template": "Again {{ prompt }}"}
        )
        assert response.status_code == 409
        assert response.json() == {"detail": f"Prompt template {name} already exists."}

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"name": "t1", "template": "{% if %}"}, ["body", "template"]),
            ({"name": "t2", "template": "no placeholder"}, ["body", "template"]),
            ({"name": "t3", "template": ""}, ["body", "template"]),
            ({"name": "has space", "template": "{{ prompt }}"}, ["body", "name"]),
            ({"name": "a/b", "template": "{{ prompt }}"}, ["body", "name"]),
            ({"name": "", "template": "{{ prompt }}"}, ["body", "name"]),
            ({"template": "{{ prompt }}"}, ["body", "name"]),
            ({"name": "t4", "template": 5}, ["body", "template"]),
        ],
    )
    async def test_bad_templates_are_422_and_not_stored(self, client, body, loc):
        before = (await client.get("/api/v1/prompt-templates/name")).json()
        response = await client.post("/api/v1/prompt-templates", json=body)
        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["error"]] == [loc]
        assert (await client.get("/api/v1/prompt-templates/name")).json() == before


class TestModules:
    async def test_context_strategies(self, client):
        strategies = (await client.get("/api/v1/context-strategies")).json()
        assert [item["id"] for item in strategies] == MOONSHOT_CONTEXT_STRATEGIES
        (strategy,) = strategies
        assert strategy["name"] == "add_previous_prompt"
        assert strategy["description"]
        assert (strategy["runnable"], strategy["reason"]) == (True, None)
        names = (await client.get("/api/v1/context-strategies/name")).json()
        assert names == [item["id"] for item in strategies]

    async def test_attack_modules(self, client):
        ids = (await client.get("/api/v1/attack-modules")).json()
        assert sorted(ids) == sorted(BUILT_IN_ATTACK_MODULES)
        metadata = (await client.get("/api/v1/attack-modules/metadata")).json()
        assert [item["id"] for item in metadata] == ids
        charswap = next(item for item in metadata if item["id"] == "charswap_attack")
        assert charswap["name"] == "Character Swap Attack"
        assert charswap["configurations"] == {"max_iteration": 10, "word_swap_ratio": 0.2}
        assert all(set(item) >= MODULE_KEYS for item in metadata)
        assert all(item["description"] for item in metadata)

    async def test_metrics(self, client):
        metrics = (await client.get("/api/v1/metrics")).json()
        assert sorted(item["id"] for item in metrics) == sorted(BUILT_IN_METRICS)
        assert all(set(item) >= MODULE_KEYS for item in metrics)
        by_id = {item["id"]: item for item in metrics}
        assert by_id["gpt4annotator"]["endpoints"] == ["llm-judge-openai-gpt4-annotator"]

    @pytest.mark.parametrize("route", ["/api/v1/metrics", "/api/v1/attack-modules/metadata"])
    async def test_each_says_whether_it_runs_and_why_not(self, client, route):
        items = (await client.get(route)).json()
        for item in items:
            assert isinstance(item["runnable"], bool)
            assert (item["reason"] is None) is item["runnable"], item
        by_id = {item["id"]: item for item in items}
        judge_or_attacker = by_id.get("refusal") or by_id["violent_durian"]
        assert judge_or_attacker["runnable"] is True
        needs_a_model = by_id.get("bertscore") or by_id["textfooler_attack"]
        assert needs_a_model["reason"] in {"needs a local model", "needs a word-embedding model"}


CONFIG_ROUTES = [
    ("attack-modules", "malicious_question_generator", "/api/v1/attack-modules/metadata"),
    ("metrics", "gpt4annotator", "/api/v1/metrics"),
]


async def listed(client: httpx.AsyncClient, listing: str, name: str) -> dict:
    return next(item for item in (await client.get(listing)).json() if item["id"] == name)


class TestConfigure:
    @pytest.mark.parametrize(("registry", "name", "listing"), CONFIG_ROUTES)
    async def test_sets_and_lists_the_workspaces_values(
        self, client, endpoints, registry, name, listing
    ):
        body = {"endpoints": [endpoints[0]], "configurations": {"max_iteration": 2}}
        response = await client.put(f"/api/v1/{registry}/{name}/config", json=body)
        assert response.status_code == 200
        answer = response.json()
        assert (answer["id"], answer["endpoints"], answer["configurations"]) == (
            name, [endpoints[0]], {"max_iteration": 2}
        )
        assert await listed(client, listing, name) == answer

    @pytest.mark.parametrize(("registry", "name", "listing"), CONFIG_ROUTES)
    async def test_a_field_left_out_is_kept(self, client, endpoints, registry, name, listing):
        url = f"/api/v1/{registry}/{name}/config"
        await client.put(url, json={"endpoints": [endpoints[1]]})
        await client.put(url, json={"configurations": {"k": "v"}})
        item = await listed(client, listing, name)
        assert (item["endpoints"], item["configurations"]) == ([endpoints[1]], {"k": "v"})

    async def test_an_unknown_endpoint_is_422_with_moonshots_detail(self, client, endpoints):
        before = await listed(client, "/api/v1/metrics", "refusal")
        response = await client.put(
            "/api/v1/metrics/refusal/config", json={"endpoints": [endpoints[0], "ghost"]}
        )
        assert response.status_code == 422
        assert response.json() == {"detail": "[Runner] Connector endpoint ghost does not exist."}
        assert await listed(client, "/api/v1/metrics", "refusal") == before

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/metrics/nowhere/config",
            "/api/v1/attack-modules/nowhere/config",
            # A name of the other kind is unknown under this one.
            "/api/v1/metrics/charswap_attack/config",
        ],
    )
    async def test_an_unknown_entry_is_404(self, client, url):
        response = await client.put(url, json={"configurations": {}})
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({}, ["body"]),
            ({"endpoints": "echo-a"}, ["body", "endpoints"]),
            ({"endpoints": [""]}, ["body", "endpoints", 0]),
            ({"configurations": ["x"]}, ["body", "configurations"]),
            ({"configurations": {"x": "y" * 20_000}}, ["body", "configurations"]),
            ({"configuration": {}}, ["body", "configuration"]),
        ],
        ids=["empty", "endpoints-text", "empty-id", "not-an-object", "too-large", "typo"],
    )
    async def test_bad_bodies_are_422_and_change_nothing(self, client, app, body, loc):
        before = await listed(client, "/api/v1/metrics", "samplemetric")
        response = await client.put("/api/v1/metrics/samplemetric/config", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"][0]["loc"] == loc
        assert await listed(client, "/api/v1/metrics", "samplemetric") == before


WA, WB = "wa", "wb"


@pytest.fixture
async def two_workspaces(
    required_settings: Settings, db: Database
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A `required`-mode server on loopback; editor and viewer keys in wa, an owner in wb."""
    keys = {
        "editor": await create_key("eve", Role.EDITOR, workspace=WA),
        "viewer": await create_key("vic", Role.VIEWER, workspace=WA),
        "outsider": await create_key("otto", Role.OWNER, workspace=WB),
    }
    for workspace in (WA, WB):
        await create_endpoint("Judge", workspace=workspace)
    app: Litestar = create_app(required_settings, database=db)
    async with live_server(app) as url:
        yield url, keys


def as_(url: str, key: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, timeout=30, headers={"authorization": f"Bearer {key}", **headers}
    )


class TestAnotherWorkspace:
    URL = "/api/v1/metrics/gpt4annotator/config"

    async def test_cannot_read_or_change_a_workspaces_settings(self, two_workspaces):
        url, keys = two_workspaces
        async with as_(url, keys["editor"]) as editor:
            response = await editor.put(
                self.URL, json={"endpoints": ["judge"], "configurations": {"secret-ish": 1}}
            )
            assert response.status_code == 200, response.text
        async with as_(url, keys["outsider"]) as outsider:
            theirs = await listed(outsider, "/api/v1/metrics", "gpt4annotator")
            assert theirs["endpoints"] == ["llm-judge-openai-gpt4-annotator"]
            assert theirs["configurations"] == {}
            # Naming the other workspace moves a key nowhere.
            await outsider.put(self.URL, json={"configurations": {"owned": True}},
                               headers={"x-workspace": WA})
            await outsider.put(self.URL, json={"configurations": {"owned": True}})
        async with as_(url, keys["editor"]) as editor:
            ours = await listed(editor, "/api/v1/metrics", "gpt4annotator")
            assert (ours["endpoints"], ours["configurations"]) == (["judge"], {"secret-ish": 1})

    async def test_a_viewer_cannot_change_settings(self, two_workspaces):
        url, keys = two_workspaces
        async with as_(url, keys["viewer"]) as viewer:
            response = await viewer.put(self.URL, json={"configurations": {"x": 1}})
            assert response.status_code == 403
            item = await listed(viewer, "/api/v1/metrics", "gpt4annotator")
            assert item["configurations"] == {}
