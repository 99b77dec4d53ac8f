"""Runners as the web API handles them: made and deleted together with their session."""

import pytest

from models import Runner, Session
from service.api import api_get_all_chats_from_session
from service.api.chats import append_chat_records, reserve_chat_record_ids
from service.api.errors import Conflict, InvalidInput, NotFound, RejectedArgument
from service.api.sessions.runners import (
    create_runner_with_session,
    delete_runner,
    get_runner,
    list_runners,
    require_session,
)
from service.api.sessions.schemas import RunnerInfo
from tests.factories import create_runner, make_chat_record


class TestCreateRunnerWithSession:
    async def test_makes_the_runner_and_its_session(self, db):
        runner, session = await create_runner_with_session(
            "My Runner", "Tries things.", ["echo-a", "echo-b"],
            {"system_prompt": "Be brief.", "prompt_template": "answer-template"},
            workspace="wa",
        )
        assert runner == RunnerInfo(
            id="my-runner", name="My Runner", description="Tries things.",
            endpoints=["echo-a", "echo-b"],
        )
        assert (session.session_id, session.endpoints) == ("my-runner", ["echo-a", "echo-b"])
        assert (session.system_prompt, session.prompt_template) == (
            "Be brief.", "answer-template"
        )
        assert await require_session("my-runner", workspace="wa") == session

    async def test_a_taken_name_is_a_conflict_and_changes_nothing(self, db):
        await create_runner("My Runner", endpoints=["echo-a"])
        with pytest.raises(Conflict, match="Runner my-runner already exists"):
            await create_runner_with_session("my runner", "", ["echo-b"], {})
        assert (await get_runner("my-runner")).endpoints == ["echo-a"]
        assert await Session.find_all().count() == 1

    async def test_an_unknown_named_setting_makes_neither(self, db):
        with pytest.raises(RejectedArgument) as raised:
            await create_runner_with_session(
                "My Runner", "", ["echo-a"], {"prompt_template": "nowhere"}
            )
        assert raised.value.field == "prompt_template"
        assert await Runner.find_all().count() == 0
        assert await Session.find_all().count() == 0

    async def test_the_same_name_in_two_workspaces_is_two_runners(self, db):
        for workspace in ("wa", "wb"):
            await create_runner("My Runner", endpoints=[workspace], workspace=workspace)
        assert (await get_runner("my-runner", workspace="wa")).endpoints == ["wa"]
        assert (await get_runner("my-runner", workspace="wb")).endpoints == ["wb"]


class TestGetRunner:
    async def test_an_unknown_runner_is_not_found(self, db):
        await create_runner("My Runner", workspace="wa")
        with pytest.raises(NotFound, match="Runner my-runner does not exist"):
            await get_runner("my-runner", workspace="wb")


class TestListRunners:
    async def test_the_workspaces_runners_by_id_paged(self, db):
        for name in ("Gamma", "Alpha", "Beta"):
            await create_runner(name, workspace="wa")
        await create_runner("Other", workspace="wb")
        assert [r.id for r in await list_runners(workspace="wa")] == ["alpha", "beta", "gamma"]
        page = await list_runners(workspace="wa", limit=1, offset=1)
        assert [runner.id for runner in page] == ["beta"]

    @pytest.mark.parametrize("limit", [0, -1, 10_000_000])
    async def test_a_limit_out_of_range_is_invalid(self, db, limit):
        with pytest.raises(InvalidInput) as raised:
            await list_runners(limit=limit)
        assert raised.value.field == "limit"


class TestRequireSession:
    async def test_an_unknown_session_is_not_found_naming_it(self, db):
        with pytest.raises(NotFound, match="Session nowhere does not exist"):
            await require_session("nowhere")


class TestDeleteRunner:
    async def test_deletes_the_runner_its_session_and_chats_so_the_name_is_free(self, db):
        runner_id = await create_runner("My Runner", endpoints=["echo-a"])
        kept = await create_runner("Kept", endpoints=["echo-a"])
        for session in (runner_id, kept):
            ids = await reserve_chat_record_ids(session, "echo-a", 2)
            await append_chat_records(session, "echo-a", [make_chat_record(i) for i in ids])
        await delete_runner(runner_id)
        with pytest.raises(NotFound):
            await get_runner(runner_id)
        with pytest.raises(NotFound):
            await require_session(runner_id)
        assert len((await api_get_all_chats_from_session(kept))["echo-a"]) == 2
        # The name can be used again, and the new session starts with no history.
        await create_runner("My Runner", endpoints=["echo-a"])
        assert await api_get_all_chats_from_session(runner_id) == {"echo-a": []}

    async def test_an_unknown_runner_is_not_found(self, db):
        await create_runner("My Runner", workspace="wa")
        with pytest.raises(NotFound, match="Session my-runner does not exist"):
            await delete_runner("my-runner", workspace="wb")
        assert (await get_runner("my-runner", workspace="wa")).id == "my-runner"
