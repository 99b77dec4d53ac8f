"""Setting and clearing a session's settings over HTTP, on both database tiers."""

import pytest

from service.api import api_delete_session, api_load_session

# (route segment, a known name, the metadata field it sets)
NAMED_SETTINGS = [
    ("prompt-template", "answer-template", "prompt_template"),
    ("attack-module", "sample_attack_module", "attack_module"),
    ("metric", "exactstrmatch", "metric"),
]


async def metadata(runner_id: str) -> dict:
    loaded = await api_load_session(runner_id)
    assert loaded is not None
    return loaded


class TestNamedSettings:
    @pytest.mark.parametrize(("segment", "name", "field"), NAMED_SETTINGS)
    async def test_put_sets_and_delete_clears(self, client, post_session, segment, name, field):
        await post_session("tuned")
        response = await client.put(f"/api/v1/sessions/tuned/{segment}/{name}")
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await metadata("tuned"))[field] == name
        response = await client.delete(f"/api/v1/sessions/tuned/{segment}/{name}")
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await metadata("tuned"))[field] == ""

    @pytest.mark.parametrize(("segment", "name", "field"), NAMED_SETTINGS)
    async def test_an_unknown_name_is_422_and_changes_nothing(
        self, client, post_session, segment, name, field
    ):
        await post_session("kept", **{field: name})
        before = await metadata("kept")
        response = await client.put(f"/api/v1/sessions/kept/{segment}/not-a-thing")
        assert response.status_code == 422
        assert set(response.json()) == {"detail"}
        assert response.json()["detail"].endswith("not-a-thing does not exist.")
        assert await metadata("kept") == before

    @pytest.mark.parametrize(("segment", "name", "field"), NAMED_SETTINGS)
    async def test_an_unknown_session_is_404(self, client, segment, name, field):
        for method in ("put", "delete"):
            response = await getattr(client, method)(f"/api/v1/sessions/nobody/{segment}/{name}")
            assert response.status_code == 404
            assert response.json() == {"detail": "Session nobody does not exist."}

    async def test_a_session_whose_runner_remains_is_still_404(self, client, post_session):
        # Moonshot's Session API lets a runner outlive its session; the routes need both.
        await post_session("half gone")
        await api_delete_session("half-gone")
        response = await client.put("/api/v1/sessions/half-gone/metric/exactstrmatch")
        assert response.status_code == 404


class TestContextStrategy:
    async def test_put_sets_strategy_and_count(self, client, post_session):
        await post_session("contextual")
        response = await client.put(
            "/api/v1/sessions/contextual/context-strategy/add_previous_prompt/3"
        )
        assert response.status_code == 200
        assert response.json() == {"success": True}
        stored = await metadata("contextual")
        assert (stored["context_strategy"], stored["cs_num_of_prev_prompts"]) == (
            "add_previous_prompt", 3
        )

    async def test_delete_clears_strategy_and_sets_count_to_zero(self, client, post_session):
        await post_session(
            "decontextual", context_strategy="add_previous_prompt", cs_num_of_prev_prompts=4
        )
        response = await client.delete(
            "/api/v1/sessions/decontextual/context-strategy/add_previous_prompt/4"
        )
        assert response.status_code == 200
        stored = await metadata("decontextual")
        assert (stored["context_strategy"], stored["cs_num_of_prev_prompts"]) == ("", 0)

    @pytest.mark.parametrize(
        ("count", "error_type"),
        [("-1", "value_error"), ("abc", "type_error"), ("1.5", "type_error")],
    )
    async def test_a_bad_count_is_422_and_changes_nothing(
        self, client, post_session, count, error_type
    ):
        await post_session("counted", cs_num_of_prev_prompts=2)
        before = await metadata("counted")
        response = await client.put(
            f"/api/v1/sessions/counted/context-strategy/add_previous_prompt/{count}"
        )
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert error["loc"] == ["path", "num_of_prompt"]
        assert error["input"] == count
        assert error["type"] == error_type
        assert await metadata("counted") == before

    async def test_an_unknown_strategy_is_422_and_changes_nothing(self, client, post_session):
        await post_session("strategic", cs_num_of_prev_prompts=2)
        before = await metadata("strategic")
        response = await client.put("/api/v1/sessions/strategic/context-strategy/nope/7")
        assert response.status_code == 422
        assert response.json() == {"detail": "[Session] Context Strategy nope does not exist."}
        assert await metadata("strategic") == before

    async def test_an_unknown_session_is_404(self, client):
        route = "/api/v1/sessions/nobody/context-strategy/add_previous_prompt/1"
        assert (await client.put(route)).status_code == 404
        assert (await client.delete(route)).status_code == 404


class TestSystemPrompt:
    async def test_put_sets_and_delete_clears(self, client, post_session):
        await post_session("prompted")
        response = await client.put(
            "/api/v1/sessions/prompted/system-prompt", json={"system_prompt": "Be brief."}
        )
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await metadata("prompted"))["system_prompt"] == "Be brief."
        response = await client.delete("/api/v1/sessions/prompted/system-prompt")
        assert response.status_code == 200
        assert (await metadata("prompted"))["system_prompt"] == ""

    @pytest.mark.parametrize(
        ("body", "error_type"),
        [({}, "missing"), ({"system_prompt": 5}, "string_type"), ({"prompt": "x"}, "missing")],
    )
    async def test_a_bad_body_is_422_and_changes_nothing(
        self, client, post_session, body, error_type
    ):
        await post_session("steady", system_prompt="Stay.")
        response = await client.put("/api/v1/sessions/steady/system-prompt", json=body)
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert (error["loc"], error["type"]) == (["body", "system_prompt"], error_type)
        assert (await metadata("steady"))["system_prompt"] == "Stay."

    async def test_an_unknown_session_is_404(self, client):
        route = "/api/v1/sessions/nobody/system-prompt"
        assert (await client.put(route, json={"system_prompt": "x"})).status_code == 404
        assert (await client.delete(route)).status_code == 404
