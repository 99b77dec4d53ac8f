"""Creating, loading and deleting sessions, on both database tiers.

Moonshot's functions as measured on 0.7.6, and the web API's create.
"""

import asyncio

import pytest
from pydantic import ValidationError

from service.api import (
    api_create_session,
    api_delete_session,
    api_get_all_chats_from_session,
    api_get_all_session_names,
    api_load_session,
    append_chat_record,
    reserve_chat_record_id,
)
from service.api.errors import Conflict, InvalidInput, NoDatabase, NotFound
from service.api.sessions.lifecycle import create_session_view
from service.api.sessions.views import list_session_summaries
from tests.api.sessions.support import RUNNER_MISSING, register_echo_endpoints
from tests.factories import create_session, make_chat_record, unique_runner_id

METADATA_FIELDS = {
    "session_id", "endpoints", "created_epoch", "created_datetime", "prompt_template",
    "context_strategy", "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
}


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
        with pytest.raises(RuntimeError, match=r"No database instance provided."):
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


class TestCreateSessionView:
    @pytest.fixture(autouse=True)
    async def echo_endpoints(self, db) -> None:
        await register_echo_endpoints()

    async def test_names_the_runner_and_stores_the_metric(self, db):
        view = await create_session_view(
            "Night Shift", "Late tests.", ["echo-a"], {"metric_id": "exactstrmatch"}
        )
        assert (view.session_name, view.session_description) == ("Night Shift", "Late tests.")
        assert view.session.session_id == "night-shift"
        assert view.session.metric == "exactstrmatch"
        assert view.chat_records is None

    async def test_an_unregistered_endpoint_is_invalid_and_creates_nothing(self, db):
        with pytest.raises(InvalidInput, match=r"Connector endpoint echo-z does not") as error:
            await create_session_view("Nowhere", "", ["echo-a", "echo-z"], {})
        assert error.value.field == "endpoints"
        assert await list_session_summaries() == []

    async def test_a_taken_name_is_a_conflict(self, db):
        await create_session_view("Twice", "", ["echo-a"], {})
        with pytest.raises(Conflict):
            await create_session_view("twice", "", ["echo-a"], {})

    async def test_is_scoped_to_its_workspace(self, db):
        await create_session_view("Shared Name", "", ["echo-a"], {}, workspace="red")
        view = await create_session_view("Shared Name", "", ["echo-a"], {}, workspace="blue")
        assert view.session.session_id == "shared-name"
        assert [s["session_id"] for s in await list_session_summaries(workspace="red")] == [
            "shared-name"
        ]
