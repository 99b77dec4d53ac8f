"""Endpoint and connector routes over HTTP, in Moonshot's shapes, on both database tiers."""

import logging

import pytest

from models import Endpoint
from service.tokens import TOKEN_MASK
from tests.factories import TEST_CIPHER

ENDPOINTS = "/api/v1/llm-endpoints"
SECRET = "sk-live-0123456789-never-shown"
ENDPOINT_FIELDS = {
    "id", "name", "connector_type", "uri", "token", "max_calls_per_second", "max_concurrency",
    "model", "params", "created_date",
}


def openai_body(name: str = "My GPT", **fields) -> dict:
    return {
        "name": name, "connector_type": "openai-connector", "uri": "https://api.example.com/v1",
        "token": SECRET, "max_calls_per_second": 5, "max_concurrency": 2, "model": "gpt-4o",
        "params": {"temperature": 0.2, "timeout": 30}, **fields,
    }


class TestCreate:
    async def test_creates_and_reads_back_in_moonshots_shape(self, client):
        created = await client.post(ENDPOINTS, json=openai_body())
        assert created.status_code == 200, created.text
        assert created.json() == {"message": "Endpoint added successfully", "id": "my-gpt"}
        one = (await client.get(f"{ENDPOINTS}/my-gpt")).json()
        assert set(one) == ENDPOINT_FIELDS
        assert one["token"] == TOKEN_MASK and one["model"] == "gpt-4o"
        assert [item["id"] for item in (await client.get(ENDPOINTS)).json()] == ["my-gpt"]
        assert (await client.get(f"{ENDPOINTS}/name")).json() == ["my-gpt"]

    async def test_an_echo_endpoint_needs_only_a_name_and_a_type(self, client):
        created = await client.post(ENDPOINTS, json={"name": "Echo A", "connector_type": "echo"})
        assert created.status_code == 200, created.text
        assert (await client.get(f"{ENDPOINTS}/echo-a")).json()["token"] == ""

    async def test_a_duplicate_is_409(self, client):
        await client.post(ENDPOINTS, json=openai_body())
        again = await client.post(ENDPOINTS, json=openai_body("my gpt"))
        assert again.status_code == 409 and "my-gpt already exists" in again.json()["detail"]

    @pytest.mark.parametrize(
        ("fields", "loc"),
        [
            ({"name": ""}, ["body", "name"]),
            ({"name": "!!!"}, ["body", "name"]),
            ({"connector_type": "nope"}, ["body", "connector_type"]),
            ({"uri": "file:///etc/passwd"}, ["body", "uri"]),
            ({"max_concurrency": 0}, ["body", "max_concurrency"]),
            ({"max_calls_per_second": "fast"}, ["body", "max_calls_per_second"]),
            ({"params": {"timeout": 0}}, ["body", "params.timeout"]),
            ({"params": []}, ["body", "params"]),
        ],
    )
    async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
        self, client, fields, loc
    ):
        response = await client.post(ENDPOINTS, json=openai_body(**fields))
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["error"]] == [loc]
        assert SECRET not in response.text
        assert (await client.get(ENDPOINTS)).json() == []

    async def test_a_missing_field_error_does_not_quote_the_token(self, client):
        body = openai_body()
        del body["name"]
        response = await client.post(ENDPOINTS, json=body)
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["body", "name"]
        assert SECRET not in response.text


class TestUpdate:
    async def test_changes_what_is_given(self, client):
        await client.post(ENDPOINTS, json=openai_body())
        response = await client.put(
            f"{ENDPOINTS}/my-gpt", json={"max_concurrency": 7, "token": TOKEN_MASK, "id": "x"}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"message": "Endpoint updated successfully"}
        one = (await client.get(f"{ENDPOINTS}/my-gpt")).json()
        assert one["max_concurrency"] == 7 and one["id"] == "my-gpt"

    async def test_a_client_putting_back_what_it_read_keeps_the_token(self, client):
        await client.post(ENDPOINTS, json=openai_body())
        read = (await client.get(f"{ENDPOINTS}/my-gpt")).json()
        assert (await client.put(f"{ENDPOINTS}/my-gpt", json=read)).status_code == 200
        stored = await Endpoint.get_pymongo_collection().find_one({"endpoint_id": "my-gpt"})
        assert TEST_CIPHER.decrypt(stored["token_encrypted"]) == SECRET

    async def test_a_new_uri_without_the_token_is_422_naming_token(self, client):
        await client.post(ENDPOINTS, json=openai_body())
        read = (await client.get(f"{ENDPOINTS}/my-gpt")).json()
        moved = await client.put(
            f"{ENDPOINTS}/my-gpt", json={**read, "uri": "https://elsewhere.example.com/v1"}
        )
        assert moved.status_code == 422, moved.text
        assert moved.json()["error"][0]["loc"][-1] == "token"
        assert (await client.get(f"{ENDPOINTS}/my-gpt")).json() == read

    async def test_unknown_is_404_and_bad_changes_422(self, client):
        assert (await client.put(f"{ENDPOINTS}/nope", json={"model": "m"})).status_code == 404
        await client.post(ENDPOINTS, json=openai_body())
        bad = await client.put(f"{ENDPOINTS}/my-gpt", json={"connector_type": "nope"})
        assert bad.status_code == 422
        assert (await client.get(f"{ENDPOINTS}/my-gpt")).json()["connector_type"] == (
            "openai-connector"
        )


class TestDelete:
    async def test_deletes_and_then_404(self, client):
        await client.post(ENDPOINTS, json=openai_body())
        deleted = await client.delete(f"{ENDPOINTS}/my-gpt")
        assert deleted.status_code == 200
        assert deleted.json() == {"message": "Endpoint deleted successfully"}
        assert (await client.get(f"{ENDPOINTS}/my-gpt")).status_code == 404
        assert (await client.delete(f"{ENDPOINTS}/my-gpt")).status_code == 404

    async def test_an_endpoint_a_session_uses_is_409(self, client, post_session):
        await post_session("Uses Echo")
        response = await client.delete(f"{ENDPOINTS}/echo-a")
        assert response.status_code == 409
        assert "used by session uses-echo" in response.json()["detail"]
        assert (await client.get(f"{ENDPOINTS}/echo-a")).status_code == 200
        assert (await client.delete("/api/v1/sessions/uses-echo")).status_code == 200
        assert (await client.delete(f"{ENDPOINTS}/echo-a")).status_code == 200


class TestSessionsNeedRegisteredEndpoints:
    async def test_an_unknown_endpoint_is_422_naming_endpoints(self, client, endpoints):
        response = await client.post(
            "/api/v1/sessions", json={"name": "Ghostly", "endpoints": [*endpoints, "ghost"]}
        )
        assert response.status_code == 422
        assert response.json() == {"detail": "[Runner] Connector endpoint ghost does not exist."}
        assert (await client.get("/api/v1/sessions")).json() == []


async def test_connector_types(client):
    response = await client.get("/api/v1/connectors")
    assert response.status_code == 200 and response.json() == [
        "echo", "fixed-answer", "openai-connector"
    ]


async def test_the_token_is_in_no_answer_and_no_log_record(client, caplog):
    caplog.set_level(logging.DEBUG)
    answers = [
        await client.post(ENDPOINTS, json=openai_body()),
        await client.post(ENDPOINTS, json=openai_body()),
        await client.post(ENDPOINTS, json=openai_body(max_concurrency=-1)),
        await client.put(f"{ENDPOINTS}/my-gpt", json={"token": SECRET, "uri": "gopher://x"}),
        await client.put(f"{ENDPOINTS}/my-gpt", json={"token": SECRET}),
        await client.get(ENDPOINTS),
        await client.get(f"{ENDPOINTS}/my-gpt"),
        await client.get("/api/v1/admin/audit"),
    ]
    assert {answer.status_code for answer in answers} == {200, 409, 422}
    assert all(SECRET not in answer.text for answer in answers)
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert all(SECRET not in str(record.args) for record in caplog.records)
