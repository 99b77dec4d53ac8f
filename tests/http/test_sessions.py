"""Session routes in process, on both database tiers: Moonshot's shapes and our error answers."""

import json

import pytest

from service.api import api_get_all_chats_from_session, api_load_session
from service.api.chats import append_chat_records, reserve_chat_record_ids
from service.api.paging import MAX_LIMIT
from tests.factories import make_chat_record
from tests.support.answers import json_invalid

METADATA_FIELDS = {
    "session_id", "endpoints", "created_epoch", "created_datetime", "prompt_template",
    "context_strategy", "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
}
COUNT_LOC = ("body", "cs_num_of_prev_prompts")
CHAT_RECORD_FIELDS = {
    "chat_record_id", "conn_id", "context_strategy", "prompt_template", "attack_module", "metric",
    "prompt", "prepared_prompt", "system_prompt", "predicted_result", "duration", "prompt_time",
}


async def add_chats(runner_id: str, endpoint: str, count: int) -> list[int]:
    ids = await reserve_chat_record_ids(runner_id, endpoint, count)
    await append_chat_records(
        runner_id, endpoint, [make_chat_record(record_id, endpoint) for record_id in ids]
    )
    return ids


class TestCreateSession:
    async def test_answers_moonshots_shape_and_stores_every_field(self, client, session_body):
        body = session_body(
            "My Red Team",
            prompt_template="answer-template",
            context_strategy="add_previous_prompt",
            cs_num_of_prev_prompts=3,
            attack_module="sample_attack_module",
            metric="exactstrmatch",
            system_prompt="Be terse.",
        )
        response = await client.post("/api/v1/sessions", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert set(answer) == {"session_name", "session_description", "session", "chat_records"}
        assert answer["session_name"] == "My Red Team"
        assert answer["session_description"] == "About My Red Team."
        assert answer["chat_records"] is None
        session = answer["session"]
        assert set(session) == METADATA_FIELDS | {"description"}
        assert session["description"] == ""
        assert session["session_id"] == "my-red-team"
        assert session["endpoints"] == body["endpoints"]
        assert session["metric"] == "exactstrmatch"  # Moonshot drops it; stored here
        assert session["cs_num_of_prev_prompts"] == 3
        stored = await api_load_session("my-red-team")
        assert {name: session[name] for name in METADATA_FIELDS} == stored

    async def test_defaults(self, client, endpoints):
        response = await client.post(
            "/api/v1/sessions", json={"name": "plain run", "endpoints": endpoints}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["session_description"] == ""
        assert answer["session"]["cs_num_of_prev_prompts"] == 5
        assert answer["session"]["prompt_template"] == answer["session"]["metric"] == ""

    async def test_null_description_is_empty(self, client, session_body):
        body = session_body("nully", description=None)
        response = await client.post("/api/v1/sessions", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["session_description"] == ""

    async def test_a_taken_name_is_409_and_changes_nothing(
        self, client, post_session, session_body
    ):
        first = await post_session("Taken Name", system_prompt="first")
        # Another spelling of the same slug is the same runner.
        response = await client.post(
            "/api/v1/sessions", json=session_body("taken  name", system_prompt="second")
        )
        assert response.status_code == 409
        assert response.json() == {"detail": "Runner taken-name already exists."}
        assert (await api_load_session("taken-name"))["system_prompt"] == "first"
        listed = (await client.get("/api/v1/sessions")).json()
        assert [item["session_id"] for item in listed] == ["taken-name"]
        assert listed[0]["created_epoch"] == first["session"]["created_epoch"]

    @pytest.mark.parametrize(
        ("fields", "loc", "error_type"),
        [
            ({"name": "ab"}, ["body", "name"], "string_too_short"),
            ({"name": ""}, ["body", "name"], "string_too_short"),
            ({"name": 123}, ["body", "name"], "string_type"),
            ({"endpoints": []}, ["body", "endpoints"], "too_short"),
            ({"endpoints": "echo-a"}, ["body", "endpoints"], "list_type"),
            ({"endpoints": [""]}, ["body", "endpoints", 0], "string_too_short"),
            ({"description": 7}, ["body", "description"], "string_type"),
            ({"system_prompt": ["x"]}, ["body", "system_prompt"], "string_type"),
            ({"cs_num_of_prev_prompts": -1}, [*COUNT_LOC], "greater_than_equal"),
            ({"cs_num_of_prev_prompts": "seven"}, [*COUNT_LOC], "int_parsing"),
            ({"cs_num_of_prev_prompts": 2.5}, [*COUNT_LOC], "int_from_float"),
        ],
    )
    async def test_bad_fields_are_422_naming_the_field(
        self, client, session_body, fields, loc, error_type
    ):
        response = await client.post("/api/v1/sessions", json=session_body("bad-input", **fields))
        assert response.status_code == 422, response.text
        errors = response.json()["error"]
        assert [(error["loc"], error["type"]) for error in errors] == [(loc, error_type)]
        assert set(errors[0]) == {"loc", "msg", "type", "input"}
        assert (await client.get("/api/v1/sessions")).json() == []

    async def test_missing_fields_are_named(self, client):
        response = await client.post("/api/v1/sessions", json={"description": "no name"})
        assert response.status_code == 422
        errors = response.json()["error"]
        assert {tuple(error["loc"]) for error in errors} == {
            ("body", "name"), ("body", "endpoints")
        }
        assert {error["type"] for error in errors} == {"missing"}

    async def test_a_body_that_is_not_an_object_is_422(self, client):
        response = await client.post("/api/v1/sessions", json=["name"])
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["body"]

    async def test_an_empty_body_is_422(self, client):
        response = await client.post(
            "/api/v1/sessions", content=b"", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"] == [
            {"loc": ["body"], "msg": "Field required", "type": "missing", "input": None}
        ]

    async def test_malformed_json_is_422_json_invalid(self, client):
        response = await client.post(
            "/api/v1/sessions",
            content=b'{"name": "x", ',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json() == json_invalid(
            14, "Expecting property name enclosed in double quotes"
        )

    async def test_an_unregistered_endpoint_is_422_and_creates_nothing(
        self, client, session_body, endpoints
    ):
        body = session_body("unregistered", endpoints=[endpoints[0], "not-registered"])
        response = await client.post("/api/v1/sessions", json=body)
        assert response.status_code == 422
        assert response.json() == {
            "detail": "[Runner] Connector endpoint not-registered does not exist."
        }
        assert (await client.get("/api/v1/sessions")).json() == []
        assert (await client.get("/api/v1/runners")).json() == []

    async def test_a_name_without_letters_or_digits_is_422(self, client, session_body):
        response = await client.post("/api/v1/sessions", json=session_body("!!! ???"))
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert error["loc"] == ["body", "name"]
        assert "no letters or digits" in error["msg"]
        assert (await client.get("/api/v1/sessions/name")).json() == []

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("prompt_template", "nope", "[Session] Prompt Template nope does not exist."),
            ("context_strategy", "nope", "[Session] Context Strategy nope does not exist."),
            ("attack_module", "nope", "[Session] Attack Module nope does not exist."),
            ("metric", "nope", "[Session] Metric nope does not exist."),
        ],
    )
    async def test_unknown_names_are_422_and_create_nothing(
        self, client, session_body, field, value, message
    ):
        response = await client.post(
            "/api/v1/sessions", json=session_body("unknown-names", **{field: value})
        )
        assert response.status_code == 422
        assert response.json() == {"detail": message}
        assert (await client.get("/api/v1/sessions")).json() == []
        assert (await client.get("/api/v1/runners")).json() == []


class TestListSessions:
    async def test_newest_first_with_descriptions(self, client, post_session):
        for name in ("first run", "second run", "third run"):
            await post_session(name)
        response = await client.get("/api/v1/sessions")
        assert response.status_code == 200
        listed = response.json()
        assert [item["session_id"] for item in listed] == ["third-run", "second-run", "first-run"]
        assert [item["description"] for item in listed] == [
            "About third run.", "About second run.", "About first run."
        ]
        assert all(set(item) == METADATA_FIELDS | {"description"} for item in listed)
        names = await client.get("/api/v1/sessions/name")
        assert names.json() == ["third-run", "second-run", "first-run"]

    async def test_pages(self, client, post_session):
        for name in ("run one", "run two", "run three"):
            await post_session(name)
        page = await client.get("/api/v1/sessions", params={"limit": 2, "offset": 1})
        assert [item["session_id"] for item in page.json()] == ["run-two", "run-one"]
        names = await client.get("/api/v1/sessions/name", params={"limit": 1})
        assert names.json() == ["run-three"]
        assert (await client.get("/api/v1/sessions/name", params={"offset": 3})).json() == []

    @pytest.mark.parametrize("route", ["/api/v1/sessions", "/api/v1/sessions/name"])
    @pytest.mark.parametrize(
        ("params", "field"),
        [({"limit": 0}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset")],
    )
    async def test_bad_pages_are_422_naming_the_parameter(self, client, route, params, field):
        response = await client.get(route, params=params)
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert error["loc"] == ["query", field]
        assert error["input"] == str(params[field])

    async def test_available_pairs_ids_with_metadata(self, client, post_session):
        await post_session("older")
        await post_session("newer")
        answer = (await client.get("/api/v1/sessions/available")).json()
        assert answer["session_ids"] == ["newer", "older"]
        assert [item["session_id"] for item in answer["sessions"]] == ["newer", "older"]
        assert set(answer["sessions"][0]) == METADATA_FIELDS


class TestGetSession:
    async def test_without_history(self, client, post_session):
        created = await post_session("look at me", system_prompt="Hi.")
        response = await client.get("/api/v1/sessions/look-at-me")
        assert response.status_code == 200
        assert response.json() == created

    async def test_with_history_in_moonshots_record_shape(self, client, post_session, endpoints):
        await post_session("with history")
        await add_chats("with-history", endpoints[0], 3)
        response = await client.get(
            "/api/v1/sessions/with-history", params={"include_history": "true"}
        )
        assert response.status_code == 200
        chats = response.json()["chat_records"]
        assert list(chats) == endpoints
        assert chats[endpoints[1]] == []
        records = chats[endpoints[0]]
        assert [record["chat_record_id"] for record in records] == [1, 2, 3]
        assert set(records[0]) == CHAT_RECORD_FIELDS
        # Moonshot's web API sends the duration as text.
        assert records[0]["duration"] == "0.01"
        assert records[0]["prompt"] == "prompt 1"

    async def test_unknown_session_is_404(self, client):
        response = await client.get("/api/v1/sessions/no-such-session")
        assert response.status_code == 404
        assert response.json() == {"detail": "Session no-such-session does not exist."}

    async def test_a_bad_flag_is_422(self, client, post_session):
        await post_session("flagged")
        response = await client.get("/api/v1/sessions/flagged", params={"include_history": "maybe"})
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["query", "include_history"]


class TestDeleteSession:
    async def test_removes_session_chats_and_runner(self, client, post_session, endpoints):
        await post_session("doomed")
        await add_chats("doomed", endpoints[0], 12)
        response = await client.delete("/api/v1/sessions/doomed")
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await client.get("/api/v1/sessions/doomed")).status_code == 404
        assert (await client.get("/api/v1/runners/doomed")).status_code == 404
        assert (await client.get("/api/v1/sessions")).json() == []

    async def test_the_name_can_be_used_again(self, client, post_session):
        await post_session("phoenix", system_prompt="old")
        await client.delete("/api/v1/sessions/phoenix")
        again = await post_session("phoenix")
        assert again["session"]["system_prompt"] == ""

    async def test_unknown_session_is_404(self, client):
        response = await client.delete("/api/v1/sessions/never-was")
        assert response.status_code == 404
        assert response.json()["detail"] == "Session never-was does not exist."


class TestSessionExtras:
    async def test_close_answers_success_for_a_session(self, client, post_session):
        await post_session("closable")
        response = await client.get("/api/v1/sessions/closable/close")
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await client.get("/api/v1/sessions/closable")).status_code == 200
        assert (await client.get("/api/v1/sessions/not-here/close")).status_code == 404

    async def test_info_is_api_load_session(self, client, post_session):
        await post_session("informed", metric="exactstrmatch")
        response = await client.get("/api/v1/sessions/informed/info")
        assert response.status_code == 200
        assert response.json() == await api_load_session("informed")
        assert (await client.get("/api/v1/sessions/not-here/info")).status_code == 404

    async def test_prev_prompts_count_reads_and_sets(self, client, post_session):
        await post_session("counted", cs_num_of_prev_prompts=2)
        route = "/api/v1/sessions/counted/cs-num-of-prev-prompts"
        assert (await client.get(route)).json() == {"cs_num_of_prev_prompts": 2}
        response = await client.put(route, json={"cs_num_of_prev_prompts": 9})
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await client.get(route)).json() == {"cs_num_of_prev_prompts": 9}

    @pytest.mark.parametrize(
        ("body", "error_type"),
        [
            ({"cs_num_of_prev_prompts": -1}, "greater_than_equal"),
            ({"cs_num_of_prev_prompts": "x"}, "int_parsing"),
            ({"cs_num_of_prev_prompts": 1.5}, "int_from_float"),
            ({}, "missing"),
        ],
    )
    async def test_prev_prompts_count_rejects_bad_values(
        self, client, post_session, body, error_type
    ):
        await post_session("counted badly", cs_num_of_prev_prompts=4)
        route = "/api/v1/sessions/counted-badly/cs-num-of-prev-prompts"
        response = await client.put(route, json=body)
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert (error["loc"], error["type"]) == (["body", "cs_num_of_prev_prompts"], error_type)
        assert (await client.get(route)).json() == {"cs_num_of_prev_prompts": 4}

    async def test_prev_prompts_count_of_an_unknown_session_is_404(self, client):
        route = "/api/v1/sessions/nobody/cs-num-of-prev-prompts"
        assert (await client.get(route)).status_code == 404
        assert (await client.put(route, json={"cs_num_of_prev_prompts": 1})).status_code == 404


class TestChats:
    async def test_all_chats_stream_equals_the_session_apis(self, client, post_session, endpoints):
        await post_session("chatty")
        await add_chats("chatty", endpoints[0], 25)
        await add_chats("chatty", endpoints[1], 2)
        response = await client.get("/api/v1/sessions/chatty/chats")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        streamed = json.loads(response.content)
        expected = await api_get_all_chats_from_session("chatty")
        assert list(streamed) == list(expected) == endpoints
        for endpoint in endpoints:
            # The same records in Moonshot's web shape: its fields (duration as text) and the id.
            assert streamed[endpoint] == [
                {field: str(record[field]) if field == "duration" else record[field]
                 for field in CHAT_RECORD_FIELDS}
                for record in expected[endpoint]
            ]

    async def test_all_chats_of_a_session_without_any(self, client, post_session, endpoints):
        await post_session("quiet")
        response = await client.get("/api/v1/sessions/quiet/chats")
        assert response.json() == {endpoint: [] for endpoint in endpoints}

    async def test_all_chats_of_an_unknown_session_is_404(self, client):
        response = await client.get("/api/v1/sessions/ghost/chats")
        assert response.status_code == 404
        assert response.json() == {"detail": "Session ghost does not exist."}

    async def test_pages_follow_the_cursor_to_the_end(self, client, post_session, endpoints):
        await post_session("paged")
        ids = await add_chats("paged", endpoints[0], 23)
        route = f"/api/v1/sessions/paged/chats/{endpoints[0]}"
        seen: list[int] = []
        cursor = 0
        pages = 0
        while True:
            response = await client.get(route, params={"limit": 10, "cursor": cursor})
            assert response.status_code == 200
            page = response.json()
            assert page["endpoint"] == endpoints[0]
            seen.extend(record["chat_record_id"] for record in page["records"])
            pages += 1
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert seen == ids
        assert pages == 3

    async def test_a_page_that_ends_exactly_has_no_next_cursor(
        self, client, post_session, endpoints
    ):
        await post_session("exact")
        await add_chats("exact", endpoints[0], 10)
        page = (
            await client.get(f"/api/v1/sessions/exact/chats/{endpoints[0]}", params={"limit": 10})
        ).json()
        assert len(page["records"]) == 10
        assert page["next_cursor"] is None

    async def test_without_limit_a_page_is_everything(self, client, post_session, endpoints):
        await post_session("unpaged")
        await add_chats("unpaged", endpoints[1], 15)
        page = (await client.get(f"/api/v1/sessions/unpaged/chats/{endpoints[1]}")).json()
        assert [record["chat_record_id"] for record in page["records"]] == list(range(1, 16))
        assert page["next_cursor"] is None

    async def test_an_endpoint_outside_the_session_is_404(self, client, post_session):
        await post_session("narrow")
        response = await client.get("/api/v1/sessions/narrow/chats/elsewhere")
        assert response.status_code == 404
        assert response.json() == {"detail": "Endpoint elsewhere is not part of session narrow."}

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"limit": 0}, "limit"), ({"cursor": -1}, "cursor"), ({"cursor": "x"}, "cursor")],
    )
    async def test_bad_page_parameters_are_422(
        self, client, post_session, endpoints, params, field
    ):
        await post_session("bad pages")
        response = await client.get(
            f"/api/v1/sessions/bad-pages/chats/{endpoints[0]}", params=params
        )
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["query", field]


class TestLargestNumbers:
    """The largest integer MongoDB stores is accepted; one more is a 422, not a driver error."""

    async def test_largest_page_parameters(self, client, post_session, endpoints):
        await post_session("huge pages")
        await add_chats("huge-pages", endpoints[0], 3)
        largest = str(2**63 - 1)
        chats = f"/api/v1/sessions/huge-pages/chats/{endpoints[0]}"
        page = await client.get(chats, params={"limit": MAX_LIMIT})
        assert page.status_code == 200
        assert len(page.json()["records"]) == 3
        # A limit has a documented maximum (a page past it is refused, not clamped).
        assert (await client.get(chats, params={"limit": largest})).status_code == 422
        for route in ("/api/v1/sessions", "/api/v1/sessions/name", "/api/v1/runners"):
            response = await client.get(route, params={"limit": MAX_LIMIT})
            assert (response.status_code, len(response.json())) == (200, 1), route
            response = await client.get(route, params={"limit": largest})
            assert response.status_code == 422, route
            response = await client.get(route, params={"offset": largest})
            assert (response.status_code, response.json()) == (200, []), route
        past = await client.get(
            f"/api/v1/sessions/huge-pages/chats/{endpoints[0]}", params={"cursor": largest}
        )
        assert (past.status_code, past.json()["records"]) == (200, [])

    async def test_one_past_the_largest_is_422(self, client, post_session, session_body):
        await post_session("huge counts")
        too_big = 2**63
        route = "/api/v1/sessions/huge-counts/cs-num-of-prev-prompts"
        response = await client.put(route, json={"cs_num_of_prev_prompts": too_big})
        assert response.status_code == 422
        assert response.json()["error"][0]["type"] == "less_than_equal"
        response = await client.put(
            f"/api/v1/sessions/huge-counts/context-strategy/add_previous_prompt/{too_big}"
        )
        assert response.status_code == 422
        response = await client.post(
            "/api/v1/sessions", json=session_body("too big", cs_num_of_prev_prompts=too_big)
        )
        assert response.status_code == 422
        response = await client.get("/api/v1/sessions", params={"limit": too_big})
        assert response.status_code == 422
        assert (await client.get("/api/v1/sessions/name")).json() == ["huge-counts"]
