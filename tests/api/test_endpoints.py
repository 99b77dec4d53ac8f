"""The endpoint registry (Moonshot's connector endpoints), on both database tiers."""

import asyncio
import os
import stat

import pytest
from pydantic import ValidationError

from models import Endpoint
from service.api.endpoints import (
    api_create_endpoint,
    api_delete_endpoint,
    api_get_all_connector_type,
    api_get_all_endpoint,
    api_get_all_endpoint_name,
    api_read_endpoint,
    api_update_endpoint,
    load_target,
    require_endpoints,
)
from service.api.errors import Conflict, InvalidInput, NotFound
from service.settings import Settings
from service.tokens import KEY_FILE, TOKEN_MASK, TokenCipher, TokenUnreadable
from tests.factories import TEST_CIPHER, create_endpoint, create_session

ENDPOINT_FIELDS = {
    "id", "name", "connector_type", "uri", "token", "max_calls_per_second", "max_concurrency",
    "model", "params", "created_date",
}
SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz"


async def create_openai(name: str = "My GPT", **overrides) -> str:
    arguments = {
        "name": name, "connector_type": "openai-connector", "uri": "https://api.example.com/v1",
        "token": SECRET, "max_calls_per_second": 5, "max_concurrency": 2, "model": "gpt-4o",
        "params": {"temperature": 0.5, "timeout": 30},
    }
    arguments.update(overrides)
    return await api_create_endpoint(**arguments, cipher=TEST_CIPHER)


class TestApiCreateEndpoint:
    async def test_id_is_the_slug_of_the_name_and_fields_are_moonshots(self, db):
        assert await create_openai("My GPT 4o") == "my-gpt-4o"
        endpoint = await api_read_endpoint("my-gpt-4o")
        assert set(endpoint) == ENDPOINT_FIELDS
        assert endpoint["name"] == "My GPT 4o"
        assert endpoint["connector_type"] == "openai-connector"
        assert endpoint["params"] == {"temperature": 0.5, "timeout": 30.0, "max_attempts": 3}
        assert len(endpoint["created_date"]) == len("2026-11-25 09:00:00")

    async def test_token_is_stored_encrypted_and_never_read_back(self, db):
        await create_openai()
        stored = await Endpoint.get_pymongo_collection().find_one({"endpoint_id": "my-gpt"})
        assert SECRET not in str(stored)
        assert TEST_CIPHER.decrypt(stored["token_encrypted"]) == SECRET
        assert (await api_read_endpoint("my-gpt"))["token"] == TOKEN_MASK
        assert all(SECRET not in str(item) for item in await api_get_all_endpoint())

    async def test_without_a_token_nothing_is_masked(self, db):
        await create_endpoint("Echo A")
        assert (await api_read_endpoint("echo-a"))["token"] == ""

    async def test_duplicate_name_is_a_conflict(self, db):
        await create_openai()
        with pytest.raises(Conflict, match="my-gpt already exists"):
            await create_openai("my gpt")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"name": "!!!"}, "name"),
            ({"connector_type": "no-such-connector"}, "connector_type"),
            ({"uri": "ftp://example.com"}, "uri"),
            ({"params": {"timeout": -1}}, "params.timeout"),
            ({"params": {"temperature": 7}}, "params.temperature"),
            ({"params": {"max_attempts": 0}}, "params.max_attempts"),
        ],
    )
    async def test_bad_input_names_the_field_and_stores_nothing(self, db, overrides, field):
        with pytest.raises(InvalidInput) as raised:
            await create_openai(**overrides)
        assert raised.value.field == field
        assert await api_get_all_endpoint() == []

    @pytest.mark.parametrize(
        "overrides",
        [{"name": ""}, {"max_concurrency": 0}, {"max_calls_per_second": -1}, {"params": "x"},
         {"token": 5}],
    )
    async def test_wrong_types_and_bounds_fail_validation(self, db, overrides):
        with pytest.raises(ValidationError):
            await create_openai(**overrides)
        assert await api_get_all_endpoint_name() == []

    async def test_unknown_params_moonshot_carries_are_kept(self, db):
        await create_openai(params={"timeout": 10, "allow_retries": True})
        assert (await api_read_endpoint("my-gpt"))["params"]["allow_retries"] is True

    async def test_workspaces_do_not_see_each_others_endpoints(self, db):
        await create_endpoint("Echo A", workspace="team-a")
        assert await api_get_all_endpoint_name(workspace="team-a") == ["echo-a"]
        assert await api_get_all_endpoint_name(workspace="team-b") == []
        with pytest.raises(NotFound):
            await api_read_endpoint("echo-a", workspace="team-b")
        await create_endpoint("Echo A", workspace="team-b")


class TestApiGetAllEndpoint:
    async def test_newest_first(self, db):
        for name in ("One", "Two", "Three"):
            await create_endpoint(name)
        assert await api_get_all_endpoint_name() == ["three", "two", "one"]
        assert [item["id"] for item in await api_get_all_endpoint()] == ["three", "two", "one"]


class TestApiUpdateEndpoint:
    async def test_changes_given_fields_and_keeps_the_id(self, db):
        await create_openai()
        assert await api_update_endpoint(
            "my-gpt", name="Renamed", max_concurrency=4, params={"timeout": 5}, uri=None,
            cipher=TEST_CIPHER,
        )
        endpoint = await api_read_endpoint("my-gpt")
        assert endpoint["name"] == "Renamed" and endpoint["max_concurrency"] == 4
        assert endpoint["params"] == {"timeout": 5.0, "max_attempts": 3}
        assert endpoint["uri"] == "https://api.example.com/v1"

    async def test_a_new_token_is_encrypted_and_the_mask_keeps_the_old_one(self, db):
        await create_openai()
        await api_update_endpoint("my-gpt", token=TOKEN_MASK, cipher=TEST_CIPHER)
        _, target = await load_target("my-gpt", TEST_CIPHER)
        assert target.token == SECRET
        await api_update_endpoint("my-gpt", token="sk-new", cipher=TEST_CIPHER)
        _, target = await load_target("my-gpt", TEST_CIPHER)
        assert target.token == "sk-new"

    async def test_targets_read_together_each_get_their_own_endpoint(self, db):
        await create_openai()
        await create_openai("Other GPT", token="sk-other")
        await create_openai(workspace="team-b", token="sk-team-b")
        loaded = await asyncio.gather(
            load_target("my-gpt", TEST_CIPHER),
            load_target("other-gpt", TEST_CIPHER),
            load_target("my-gpt", TEST_CIPHER, workspace="team-b"),
            load_target("nope", TEST_CIPHER),
            load_target("other-gpt", TEST_CIPHER, workspace="team-b"),
            return_exceptions=True,
        )
        mine, other, team_b, missing, not_in_team_b = loaded
        assert not isinstance(mine, BaseException) and mine[1].token == SECRET
        assert not isinstance(other, BaseException) and other[0].endpoint_id == "other-gpt"
        assert other[1].token == "sk-other"
        # Read in the same query, each workspace still gets only its own endpoint.
        assert not isinstance(team_b, BaseException) and team_b[1].token == "sk-team-b"
        assert isinstance(missing, NotFound) and "nope" in str(missing)
        assert isinstance(not_in_team_b, NotFound)

    async def test_bad_changes_are_refused_and_nothing_changes(self, db):
        await create_openai()
        before = await api_read_endpoint("my-gpt")
        with pytest.raises(InvalidInput) as raised:
            await api_update_endpoint("my-gpt", connector_type="nope", cipher=TEST_CIPHER)
        assert raised.value.field == "connector_type"
        with pytest.raises(ValidationError):
            await api_update_endpoint("my-gpt", max_concurrency=0, cipher=TEST_CIPHER)
        with pytest.raises(InvalidInput) as raised:
            await api_update_endpoint("my-gpt", colour="red", cipher=TEST_CIPHER)
        assert raised.value.field == "colour"
        assert await api_read_endpoint("my-gpt") == before

    async def test_unknown_endpoint(self, db):
        with pytest.raises(NotFound):
            await api_update_endpoint("nope", name="x", cipher=TEST_CIPHER)

    @pytest.mark.parametrize(
        "change",
        [
            {"uri": "https://elsewhere.example.com/v1"},
            {"uri": "https://elsewhere.example.com/v1", "token": TOKEN_MASK},
            {"uri": "", "token": None},
            {"connector_type": "echo"},
        ],
    )
    async def test_moving_the_endpoint_needs_the_token(self, db, change):
        await create_openai()
        before = await api_read_endpoint("my-gpt")
        with pytest.raises(InvalidInput, match="needs the token") as raised:
            await api_update_endpoint("my-gpt", cipher=TEST_CIPHER, **change)
        assert raised.value.field == "token"
        assert await api_read_endpoint("my-gpt") == before
        _, target = await load_target("my-gpt", TEST_CIPHER)
        assert target.token == SECRET

    async def test_moving_it_with_a_token_or_an_empty_one_replaces_the_token(self, db):
        await create_openai()
        elsewhere = "https://elsewhere.example.com/v1"
        await api_update_endpoint("my-gpt", uri=elsewhere, token="", cipher=TEST_CIPHER)
        _, target = await load_target("my-gpt", TEST_CIPHER)
        assert (target.uri, target.token) == (elsewhere, "")
        await api_update_endpoint("my-gpt", connector_type="echo", token="t2", cipher=TEST_CIPHER)
        document, target = await load_target("my-gpt", TEST_CIPHER)
        assert (document.connector_type, target.token) == ("echo", "t2")

    async def test_the_same_uri_and_type_need_no_token(self, db):
        await create_openai()
        await api_update_endpoint(
            "my-gpt", uri="https://api.example.com/v1", connector_type="openai-connector",
            token=TOKEN_MASK, model="gpt-5", cipher=TEST_CIPHER,
        )
        document, target = await load_target("my-gpt", TEST_CIPHER)
        assert (document.model, target.token) == ("gpt-5", SECRET)

    @pytest.mark.parametrize(
        "uri", ["https://user:pw-secret@api.example.com/v1", "http://pw-secret@api.example.com"]
    )
    async def test_credentials_in_the_uri_are_refused(self, db, uri):
        with pytest.raises(InvalidInput) as raised:
            await create_openai(uri=uri)
        assert raised.value.field == "uri" and "pw-secret" not in str(raised.value)
        await create_openai()
        with pytest.raises(InvalidInput) as raised:
            await api_update_endpoint("my-gpt", uri=uri, token="t", cipher=TEST_CIPHER)
        assert raised.value.field == "uri" and "pw-secret" not in str(raised.value)
        assert (await api_read_endpoint("my-gpt"))["uri"] == "https://api.example.com/v1"


class TestApiDeleteEndpoint:
    async def test_deletes(self, db):
        await create_endpoint("Echo A")
        assert await api_delete_endpoint("echo-a") is True
        with pytest.raises(NotFound):
            await api_read_endpoint("echo-a")
        with pytest.raises(NotFound):
            await api_delete_endpoint("echo-a")

    async def test_an_endpoint_a_session_uses_cannot_be_deleted(self, db):
        await create_endpoint("Echo A")
        await create_session("uses-it", ["echo-a"])
        with pytest.raises(Conflict, match="used by session uses-it"):
            await api_delete_endpoint("echo-a")
        assert (await api_read_endpoint("echo-a"))["id"] == "echo-a"

    async def test_a_session_in_another_workspace_does_not_hold_it(self, db):
        await create_endpoint("Echo A")
        await create_session("elsewhere", ["echo-a"], workspace="team-b")
        assert await api_delete_endpoint("echo-a") is True


class TestRequireEndpoints:
    async def test_names_the_first_missing_endpoint(self, db):
        await create_endpoint("Echo A")
        await require_endpoints(["echo-a", "echo-a"])
        with pytest.raises(InvalidInput, match=r"\[Runner\] Connector endpoint echo-b") as raised:
            await require_endpoints(["echo-a", "echo-b"])
        assert raised.value.field == "endpoints"
        with pytest.raises(InvalidInput):
            await require_endpoints(["echo-a"], workspace="team-b")


def test_connector_types():
    assert api_get_all_connector_type() == ["echo", "fixed-answer", "openai-connector"]


class TestTokenCipher:
    def test_embedded_default_keeps_a_generated_key_readable_by_its_owner_only(self, tmp_path):
        settings = Settings(data_dir=tmp_path / "data")
        cipher = TokenCipher.from_settings(settings)
        key_file = tmp_path / "data" / KEY_FILE
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        again = TokenCipher.from_settings(settings)
        assert again.decrypt(cipher.encrypt("t0ken")) == "t0ken"

    def test_a_configured_key_wins_and_a_changed_key_cannot_read(self, tmp_path):
        first = TokenCipher.from_settings(Settings(data_dir=tmp_path, secret_key="one"))
        second = TokenCipher.from_settings(Settings(data_dir=tmp_path, secret_key="two"))
        assert not (tmp_path / KEY_FILE).exists()
        with pytest.raises(TokenUnreadable) as raised:
            second.decrypt(first.encrypt("t0ken"))
        assert "t0ken" not in str(raised.value)
        assert "one" not in repr(first)
