"""Moonshot's Session API, as measured on Moonshot 0.7.6, on both database tiers."""

import asyncio
import re

import pytest
from pydantic import ValidationError

from service.api import (
    api_create_session,
    api_delete_session,
    api_get_all_chats_from_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_get_available_session_info,
    api_load_session,
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
    append_chat_record,
    reserve_chat_record_id,
)
from service.api.errors import InvalidInput, NoDatabase, NotFound
from tests.factories import create_session, make_chat_record, unique_runner_id

RUNNER_MISSING = re.escape(
    "[Runner] Unable to load runner because the runner file does not exist."
)
METADATA_FIELDS = {
    "session_id", "endpoints", "created_epoch", "created_datetime", "prompt_template",
    "context_strategy", "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
}
UPDATES = [
    (api_update_prompt_template, "prompt_template", "answer-template", "Prompt Template"),
    (api_update_context_strategy, "context_strategy", "add_previous_prompt", "Context Strategy"),
    (api_update_attack_module, "attack_module", "sample_attack_module", "Attack Module"),
    (api_update_metric, "metric", "exactstrmatch", "Metric"),
]


class TestApiCreateSession:
    async def test_creates_a_session_with_the_contract_fields(self, db):
        session = await api_create_session(
            "my-run",
            None,
            ["echo-a", "echo-b"],
            {
                "prompt_template": "answer-template",
                "context_strategy": "add_previous_prompt",
                "cs_num_of_prev_prompts": 3,
                "attack_module": "sample_attack_module",
                "metric_id": "exactstrmatch",
                "system_prompt": "Be terse.",
            },
        )
        metadata = session.session_metadata.to_dict()
        assert set(metadata) == METADATA_FIELDS
        assert metadata["session_id"] == "my-run" == session.runner_id
        assert metadata["endpoints"] == ["echo-a", "echo-b"]
        assert metadata["metric"] == "exactstrmatch"
        assert metadata["cs_num_of_prev_prompts"] == 3
        assert isinstance(metadata["created_epoch"], str)
        float(metadata["created_epoch"])
        assert len(metadata["created_datetime"]) == len("20261125-091500")
        assert await api_load_session("my-run") == metadata

    async def test_defaults_and_ignored_keys(self, db):
        session = await api_create_session("plain", None, [], {"unknown_key": 1})
        metadata = session.session_metadata.to_dict()
        assert metadata["endpoints"] == []
        assert metadata["cs_num_of_prev_prompts"] == 5
        assert metadata["prompt_template"] == metadata["metric"] == ""

    async def test_returns_the_existing_session_unchanged(self, db):
        first = await api_create_session("twice", None, ["echo-a"], {"system_prompt": "one"})
        second = await api_create_session("twice", None, ["other"], {"system_prompt": "two"})
        assert second.session_metadata == first.session_metadata
        assert (await api_load_session("twice"))["system_prompt"] == "one"

    async def test_concurrent_creates_make_one_session(self, db):
        results = await asyncio.gather(
            *(api_create_session("racy", None, ["echo-a"], {}) for _ in range(10))
        )
        assert len({result.session_metadata.created_epoch for result in results}) == 1
        assert await api_get_all_session_names() == ["racy"]

    @pytest.mark.parametrize(
        ("runner_id", "message"),
        [
            ("", "String should have at least 1 character."),
            ("My Run", "Invalid Runner ID."),
            ("UPPER", "Invalid Runner ID."),
            ("trailing-", "Invalid Runner ID."),
        ],
    )
    async def test_rejects_bad_runner_ids(self, db, runner_id, message):
        with pytest.raises(RuntimeError, match=message) as raised:
            await api_create_session(runner_id, None, [], {})
        assert isinstance(raised.value, InvalidInput)
        assert await api_get_all_session_names() == []

    @pytest.mark.parametrize(
        ("argument", "kind"),
        [
            ("prompt_template", "Prompt Template"),
            ("context_strategy", "Context Strategy"),
            ("attack_module", "Attack Module"),
            ("metric_id", "Metric"),
        ],
    )
    async def test_rejects_unknown_names(self, db, argument, kind):
        with pytest.raises(RuntimeError, match=rf"\[Session\] {kind} nope does not exist\."):
            await api_create_session("named", None, [], {argument: "nope"})
        assert await api_get_all_session_names() == []

    @pytest.mark.parametrize("database_instance", [[], {}, 123, "db"])
    async def test_rejects_what_is_not_a_database(self, db, database_instance):
        with pytest.raises(RuntimeError, match="No database instance provided."):
            await api_create_session("no-db", database_instance, [], {})

    async def test_database_is_checked_before_the_id(self, db):
        with pytest.raises(NoDatabase):
            await api_create_session("", [], [], {})

    async def test_accepts_the_initialised_database_itself(self, db):
        session = await api_create_session("explicit", db.database, ["e"], {})
        assert session.session_metadata.session_id == "explicit"

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ((1, None, [], {}), "Input should be a valid string"),
            (("ok", None, "echo", {}), "Input should be a valid list"),
            (("ok", None, [], []), "Input should be a valid dictionary"),
        ],
    )
    async def test_wrong_types_raise_validation_errors(self, db, arguments, message):
        with pytest.raises(ValidationError, match=message):
            await api_create_session(*arguments)


class TestNoDatabase:
    async def test_without_any_database_create_says_so(self, monkeypatch):
        monkeypatch.setattr("service.database._current", None)
        with pytest.raises(
            RuntimeError,
            match=r"\[Session\] Failed to initialise Session. No database instance provided.",
        ):
            await api_create_session("x", None, [], {})


class TestApiLoadSession:
    async def test_unknown_runners_raise(self, db):
        for runner_id in ("never", "", "None"):
            with pytest.raises(RuntimeError, match=RUNNER_MISSING) as raised:
                await api_load_session(runner_id)
            assert isinstance(raised.value, NotFound)

    async def test_none_after_delete(self, db):
        runner_id = await create_session()
        await api_delete_session(runner_id)
        assert await api_load_session(runner_id) is None


class TestListings:
    async def test_newest_first_with_ties_broken_by_epoch(self, db):
        for runner_id in ("first", "second", "third"):
            await create_session(runner_id)
        names = await api_get_all_session_names()
        assert names == ["third", "second", "first"]
        metadata = await api_get_all_session_metadata()
        assert [item["session_id"] for item in metadata] == names
        ids, infos = await api_get_available_session_info()
        assert ids == names and infos == metadata

    async def test_pagination(self, db):
        for index in range(5):
            await create_session(f"page-{index}")
        everything = await api_get_all_session_names()
        assert await api_get_all_session_names(limit=2) == everything[:2]
        assert await api_get_all_session_names(limit=2, offset=2) == everything[2:4]
        page = await api_get_all_session_metadata(limit=3, offset=4)
        assert [item["session_id"] for item in page] == everything[4:]

    async def test_bad_pagination_is_a_validation_error(self, db):
        with pytest.raises(ValidationError):
            await api_get_all_session_names(limit=0)
        with pytest.raises(ValidationError):
            await api_get_all_session_metadata(offset=-1)

    async def test_workspaces_do_not_see_each_other(self, db):
        await create_session("mine", workspace="alpha")
        await create_session("theirs", workspace="beta")
        assert await api_get_all_session_names(workspace="alpha") == ["mine"]
        assert await api_get_all_session_names(workspace="beta") == ["theirs"]
        assert await api_get_all_session_names() == []
        with pytest.raises(NotFound):
            await api_load_session("theirs", workspace="alpha")
        with pytest.raises(NotFound):
            await api_delete_session("theirs", workspace="alpha")
        assert await api_load_session("theirs", workspace="beta") is not None


class TestUpdates:
    @pytest.mark.parametrize(("update", "field", "name", "kind"), UPDATES)
    async def test_sets_and_clears_a_named_setting(self, db, update, field, name, kind):
        runner_id = await create_session()
        assert await update(runner_id, name) is True
        assert (await api_load_session(runner_id))[field] == name
        assert await update(runner_id, "") is True
        assert (await api_load_session(runner_id))[field] == ""

    @pytest.mark.parametrize(("update", "field", "name", "kind"), UPDATES)
    async def test_unknown_name_changes_nothing(self, db, update, field, name, kind):
        runner_id = await create_session(runner_args={"metric_id": "exactstrmatch"})
        before = await api_load_session(runner_id)
        with pytest.raises(RuntimeError, match=rf"^\[Session\] {kind} missing-thing does not exist\.$"):
            await update(runner_id, "missing-thing")
        assert await api_load_session(runner_id) == before

    @pytest.mark.parametrize(("update", "field", "name", "kind"), UPDATES)
    async def test_unknown_runner_raises(self, db, update, field, name, kind):
        with pytest.raises(RuntimeError, match=RUNNER_MISSING):
            await update("ghost", name)

    async def test_system_prompt_and_number_of_prompts(self, db):
        runner_id = await create_session()
        assert await api_update_system_prompt(runner_id, "You are a pirate.") is True
        assert await api_update_cs_num_of_prev_prompts(runner_id, "7") is True
        loaded = await api_load_session(runner_id)
        assert loaded["system_prompt"] == "You are a pirate."
        assert loaded["cs_num_of_prev_prompts"] == 7

    async def test_wrong_types(self, db):
        runner_id = await create_session()
        with pytest.raises(ValidationError, match="Input should be a valid integer"):
            await api_update_cs_num_of_prev_prompts(runner_id, "seven")
        with pytest.raises(ValidationError, match="Input should be a valid string"):
            await api_update_system_prompt(runner_id, 5)
        assert (await api_load_session(runner_id))["cs_num_of_prev_prompts"] == 5

    async def test_updates_after_delete_return_true_and_change_nothing(self, db):
        runner_id = await create_session()
        await api_delete_session(runner_id)
        for update, _, name, _ in UPDATES:
            assert await update(runner_id, name) is True
        assert await api_update_system_prompt(runner_id, "x") is True
        assert await api_update_cs_num_of_prev_prompts(runner_id, 2) is True
        assert await api_load_session(runner_id) is None
        assert await api_get_all_session_names() == []


class TestApiGetAllChatsFromSession:
    async def test_every_endpoint_in_append_order(self, db):
        runner_id = await create_session(endpoints=["echo-a", "echo-b", "silent"])
        for _ in range(25):
            for endpoint in ("echo-a", "echo-b"):
                record_id = await reserve_chat_record_id(runner_id, endpoint)
                await append_chat_record(runner_id, endpoint, make_chat_record(record_id, endpoint))
        chats = await api_get_all_chats_from_session(runner_id)
        assert list(chats) == ["echo-a", "echo-b", "silent"]
        assert [record["chat_record_id"] for record in chats["echo-a"]] == list(range(1, 26))
        assert chats["echo-b"][0]["conn_id"] == "echo-b"
        assert chats["silent"] == []
        assert set(chats["echo-a"][0]) == set(make_chat_record(1).model_dump())

    async def test_unknown_runner_raises_and_deleted_session_is_empty(self, db):
        with pytest.raises(RuntimeError, match=RUNNER_MISSING):
            await api_get_all_chats_from_session("ghost")
        runner_id = await create_session()
        await api_delete_session(runner_id)
        assert await api_get_all_chats_from_session(runner_id) == {}


class TestApiDeleteSession:
    async def test_removes_session_and_every_chat_bucket(self, db):
        from models import ChatBucket, ChatCounter

        runner_id = await create_session(endpoints=["echo-a"])
        keep = await create_session(endpoints=["echo-a"])
        for session in (runner_id, keep):
            for _ in range(30):
                record_id = await reserve_chat_record_id(session, "echo-a")
                await append_chat_record(session, "echo-a", make_chat_record(record_id))
        assert await api_delete_session(runner_id) is True
        assert await ChatBucket.find(ChatBucket.session_id == runner_id).count() == 0
        assert await ChatCounter.find(ChatCounter.session_id == runner_id).count() == 0
        assert await ChatBucket.find(ChatBucket.session_id == keep).count() == 4
        assert len((await api_get_all_chats_from_session(keep))["echo-a"]) == 30

    async def test_second_delete_raises(self, db):
        runner_id = await create_session()
        await api_delete_session(runner_id)
        with pytest.raises(RuntimeError, match=r"\[Session\] Failed to get Session metadata\."):
            await api_delete_session(runner_id)

    async def test_create_works_again_and_chats_start_over(self, db):
        runner_id = await create_session()
        await reserve_chat_record_id(runner_id, "echo-a")
        await api_delete_session(runner_id)
        await api_create_session(runner_id, None, ["echo-a"], {})
        assert await reserve_chat_record_id(runner_id, "echo-a") == 1
        assert await api_get_all_session_names() == [runner_id]

    async def test_unknown_runner_raises(self, db):
        with pytest.raises(RuntimeError, match=RUNNER_MISSING):
            await api_delete_session(unique_runner_id())
