"""End to end: the real app under uvicorn on a loopback port, spoken to over real HTTP."""

import json

import pytest

from service.api.chats import append_chat_records, reserve_chat_record_ids
from tests.factories import make_chat_record

MIB = 1024 * 1024


async def listing(live_client) -> list[str]:
    response = await live_client.get("/api/v1/sessions/name")
    assert response.status_code == 200
    return response.json()


class TestSessionLifecycle:
    async def test_create_list_get_update_delete(self, live_client, session_body, endpoints):
        created = await live_client.post(
            "/api/v1/sessions", json=session_body("Live Run", metric="exactstrmatch")
        )
        assert created.status_code == 200, created.text
        session = created.json()["session"]
        assert session["session_id"] == "live-run"
        assert session["metric"] == "exactstrmatch"

        listed = (await live_client.get("/api/v1/sessions")).json()
        assert [(item["session_id"], item["description"]) for item in listed] == [
            ("live-run", "About Live Run.")
        ]

        for method, route, body in [
            ("put", "/api/v1/sessions/live-run/prompt-template/answer-template", None),
            ("put", "/api/v1/sessions/live-run/context-strategy/add_previous_prompt/2", None),
            ("put", "/api/v1/sessions/live-run/attack-module/sample_attack_module", None),
            ("put", "/api/v1/sessions/live-run/metric/relaxstrmatch", None),
            ("put", "/api/v1/sessions/live-run/system-prompt", {"system_prompt": "Short."}),
        ]:
            response = await live_client.request(method, route, json=body)
            assert (response.status_code, response.json()) == (200, {"success": True}), route

        fetched = await live_client.get("/api/v1/sessions/live-run")
        assert fetched.status_code == 200
        answer = fetched.json()
        assert answer["session_name"] == "Live Run"
        assert {
            key: answer["session"][key]
            for key in (
                "prompt_template", "context_strategy", "cs_num_of_prev_prompts",
                "attack_module", "metric", "system_prompt",
            )
        } == {
            "prompt_template": "answer-template",
            "context_strategy": "add_previous_prompt",
            "cs_num_of_prev_prompts": 2,
            "attack_module": "sample_attack_module",
            "metric": "relaxstrmatch",
            "system_prompt": "Short.",
        }

        for route in (
            "/api/v1/sessions/live-run/prompt-template/answer-template",
            "/api/v1/sessions/live-run/context-strategy/add_previous_prompt/2",
            "/api/v1/sessions/live-run/attack-module/sample_attack_module",
            "/api/v1/sessions/live-run/metric/relaxstrmatch",
            "/api/v1/sessions/live-run/system-prompt",
        ):
            assert (await live_client.delete(route)).status_code == 200, route
        cleared = (await live_client.get("/api/v1/sessions/live-run/info")).json()
        assert [
            cleared[key]
            for key in (
                "prompt_template", "context_strategy", "attack_module", "metric", "system_prompt"
            )
        ] == [""] * 5
        assert cleared["cs_num_of_prev_prompts"] == 0

        deleted = await live_client.delete("/api/v1/sessions/live-run")
        assert (deleted.status_code, deleted.json()) == (200, {"success": True})
        assert await listing(live_client) == []
        assert (await live_client.get("/api/v1/sessions/live-run")).status_code == 404

    async def test_chats_stream_over_real_http(self, live_client, session_body, endpoints):
        await live_client.post("/api/v1/sessions", json=session_body("streamed"))
        ids = await reserve_chat_record_ids("streamed", endpoints[0], 250)
        await append_chat_records(
            "streamed", endpoints[0], [make_chat_record(i, endpoints[0]) for i in ids]
        )
        async with live_client.stream("GET", "/api/v1/sessions/streamed/chats") as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        chats = json.loads(body)
        assert [record["chat_record_id"] for record in chats[endpoints[0]]] == ids
        assert chats[endpoints[1]] == []


class TestBadInputOverHttp:
    @pytest.mark.parametrize(
        ("fields", "loc"),
        [
            ({"name": ""}, ["body", "name"]),
            ({"name": None}, ["body", "name"]),
            ({"endpoints": []}, ["body", "endpoints"]),
            ({"endpoints": {"a": 1}}, ["body", "endpoints"]),
            ({"cs_num_of_prev_prompts": -3}, ["body", "cs_num_of_prev_prompts"]),
            ({"cs_num_of_prev_prompts": "many"}, ["body", "cs_num_of_prev_prompts"]),
            ({"cs_num_of_prev_prompts": 1.25}, ["body", "cs_num_of_prev_prompts"]),
            ({"name": "***"}, ["body", "name"]),
        ],
    )
    async def test_each_is_422_naming_the_field_and_stores_nothing(
        self, live_client, session_body, fields, loc
    ):
        response = await live_client.post(
            "/api/v1/sessions", json=session_body("would-be", **fields)
        )
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["error"]] == [loc]
        assert await listing(live_client) == []
        assert (await live_client.get("/api/v1/runners")).json() == []

    @pytest.mark.parametrize(
        ("fields", "detail"),
        [
            ({"prompt_template": "ghost"}, "[Session] Prompt Template ghost does not exist."),
            ({"context_strategy": "ghost"}, "[Session] Context Strategy ghost does not exist."),
            ({"attack_module": "ghost"}, "[Session] Attack Module ghost does not exist."),
            ({"metric": "ghost"}, "[Session] Metric ghost does not exist."),
            ({"endpoints": ["ghost"]}, "[Runner] Connector endpoint ghost does not exist."),
        ],
    )
    async def test_an_unknown_name_is_422_with_moonshots_detail_and_stores_nothing(
        self, live_client, session_body, fields, detail
    ):
        response = await live_client.post(
            "/api/v1/sessions", json=session_body("would-be", **fields)
        )
        assert response.status_code == 422, response.text
        assert response.json() == {"detail": detail}
        assert await listing(live_client) == []
        assert (await live_client.get("/api/v1/runners")).json() == []

    async def test_missing_fields_are_named(self, live_client):
        response = await live_client.post("/api/v1/sessions", json={})
        assert response.status_code == 422
        assert sorted(error["loc"][-1] for error in response.json()["error"]) == [
            "endpoints", "name"
        ]

    async def test_duplicate_create_is_409_and_keeps_the_first(self, live_client, session_body):
        first = await live_client.post("/api/v1/sessions", json=session_body("Only One"))
        assert first.status_code == 200
        again = await live_client.post(
            "/api/v1/sessions", json=session_body("only one", system_prompt="new")
        )
        assert again.status_code == 409
        assert again.json() == {"detail": "Runner only-one already exists."}
        assert await listing(live_client) == ["only-one"]
        kept = (await live_client.get("/api/v1/sessions/only-one")).json()
        assert kept == first.json()

    async def test_unknown_session_is_404_on_every_session_route(self, live_client):
        for method, route in [
            ("get", "/api/v1/sessions/ghost"),
            ("delete", "/api/v1/sessions/ghost"),
            ("get", "/api/v1/sessions/ghost/info"),
            ("get", "/api/v1/sessions/ghost/chats"),
            ("get", "/api/v1/sessions/ghost/close"),
            ("put", "/api/v1/sessions/ghost/metric/exactstrmatch"),
            ("delete", "/api/v1/sessions/ghost/metric/exactstrmatch"),
            ("put", "/api/v1/sessions/ghost/context-strategy/add_previous_prompt/1"),
        ]:
            response = await live_client.request(method, route)
            assert response.status_code == 404, route
            assert response.json() == {"detail": "Session ghost does not exist."}, route

    async def test_an_oversized_body_is_413_and_stores_nothing(
        self, live_client, session_body, settings
    ):
        body = session_body("huge", system_prompt="x" * (2 * MIB))
        assert len(json.dumps(body)) > settings.max_body_bytes
        response = await live_client.post("/api/v1/sessions", json=body)
        assert response.status_code == 413
        assert response.json() == {"detail": "Request Entity Too Large"}
        assert await listing(live_client) == []

    async def test_malformed_json_is_422_json_invalid_and_stores_nothing(self, live_client):
        body = b'{"name": "broken", "endpoints": ["echo-a"]'
        response = await live_client.post(
            "/api/v1/sessions", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert error["type"] == "json_invalid"
        assert error["loc"] == ["body", len(body)]
        assert error["ctx"] == {"error": "Expecting ',' delimiter"}
        assert await listing(live_client) == []

    @pytest.mark.parametrize("count", ["-1", "ten", "2.5"])
    async def test_a_bad_count_in_the_path_is_422(self, live_client, session_body, count):
        await live_client.post("/api/v1/sessions", json=session_body("count me"))
        response = await live_client.put(
            f"/api/v1/sessions/count-me/context-strategy/add_previous_prompt/{count}"
        )
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["path", "num_of_prompt"]
        info = (await live_client.get("/api/v1/sessions/count-me/info")).json()
        assert (info["context_strategy"], info["cs_num_of_prev_prompts"]) == ("", 5)
