"""Registry routes in Moonshot's shapes, and adding a prompt template, on both tiers."""

import pytest


class TestPromptTemplates:
    async def test_lists_built_ins_in_moonshots_shape(self, client):
        response = await client.get("/api/v1/prompt-templates")
        assert response.status_code == 200
        templates = response.json()
        assert all(set(item) == {"name", "description", "template"} for item in templates)
        by_name = {item["name"]: item for item in templates}
        assert "{{ prompt }}" in by_name["answer-template"]["template"]
        names = (await client.get("/api/v1/prompt-templates/name")).json()
        assert names == [item["name"] for item in templates]

    async def test_an_added_template_is_listed_and_usable(self, client, post_session):
        body = {"name": "polite", "description": "Says please.", "template": "Please: {{ prompt }}"}
        response = await client.post("/api/v1/prompt-templates", json=body)
        assert response.status_code == 201
        assert response.json() == body
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
        assert {"id": "add_previous_prompt", "name": "add_previous_prompt"}.items() <= next(
            item for item in strategies if item["id"] == "add_previous_prompt"
        ).items()
        assert all(set(item) == {"id", "name", "description"} for item in strategies)
        names = (await client.get("/api/v1/context-strategies/name")).json()
        assert names == [item["id"] for item in strategies]

    async def test_attack_modules(self, client):
        ids = (await client.get("/api/v1/attack-modules")).json()
        assert "sample_attack_module" in ids
        metadata = (await client.get("/api/v1/attack-modules/metadata")).json()
        assert [item["id"] for item in metadata] == ids
        charswap = next(item for item in metadata if item["id"] == "charswap_attack")
        assert charswap["configurations"] == {"max_iteration": 10}
        assert all(
            set(item) == {"id", "name", "description", "endpoints", "configurations"}
            for item in metadata
        )

    async def test_metrics(self, client):
        metrics = (await client.get("/api/v1/metrics")).json()
        assert "exactstrmatch" in [item["id"] for item in metrics]
        assert all(
            set(item) == {"id", "name", "description", "endpoints", "configurations"}
            for item in metrics
        )
