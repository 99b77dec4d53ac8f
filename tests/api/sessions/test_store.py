"""Session documents: made from `runner_args` as Moonshot reads them, listed by one query."""

import pytest
from pydantic import ValidationError

from models import Runner
from models.events import EventCounter
from models.keys import runner_key
from service.api.sessions.store import (
    METADATA_FIELDS,
    SESSION_OWNED,
    delete_session_data,
    find_session,
    list_session_documents,
    new_session_document,
    set_session_fields,
)
from tests.factories import create_session


class TestNewSessionDocument:
    """(A Beanie document can only be made once Beanie is initialised: hence `db`.)"""

    def test_reads_runner_args_with_moonshots_keys(self, db):
        document = new_session_document(
            "my-run", ["echo-a"],
            {"metric_id": "exactstrmatch", "metric": "ignored", "cs_num_of_prev_prompts": 0},
            "team",
        )
        assert document.id == runner_key("team", "my-run")
        assert (document.metric, document.cs_num_of_prev_prompts) == ("exactstrmatch", 0)
        assert (document.runner_name, document.description, document.version) == ("my-run", "", 0)

    def test_left_out_and_none_names_are_the_defaults(self, db):
        document = new_session_document(
            "plain", [], {"prompt_template": None, "system_prompt": ""}, "team"
        )
        assert document.prompt_template == document.system_prompt == document.metric == ""
        assert document.cs_num_of_prev_prompts == 5

    def test_a_number_of_prompts_of_the_wrong_type_is_refused(self, db):
        with pytest.raises(ValidationError):
            new_session_document("bad", [], {"cs_num_of_prev_prompts": "seven"}, "team")


class TestListSessionDocuments:
    async def test_newest_first_with_only_the_fields_asked(self, db):
        for runner_id in ("first", "second"):
            await create_session(runner_id)
        documents = await list_session_documents("default", limit=None, offset=0)
        assert [document["session_id"] for document in documents] == ["second", "first"]
        assert set(documents[0]) == set(METADATA_FIELDS)
        names = await list_session_documents(
            "default", limit=1, offset=1, fields=("session_id",)
        )
        assert names == [{"session_id": "first"}]


async def test_set_session_fields_bumps_the_version(db):
    runner_id = await create_session()
    assert await set_session_fields(runner_id, {"system_prompt": "x"}, "default") is True
    (document,) = await list_session_documents(
        "default", limit=None, offset=0, fields=("system_prompt", "version")
    )
    assert document == {"system_prompt": "x", "version": 1}


class TestDeleteSessionData:
    """Raw documents in every collection a session owns: what the delete reaches is exactly
    the session's scope, whatever wrote them (prompting, events, chats)."""

    async def owned(self, workspace: str, runner_id: str) -> dict[str, int]:
        scope = {"workspace": workspace, "session_id": runner_id}
        return {
            document.__name__: await document.get_pymongo_collection().count_documents(scope)
            for document in (*SESSION_OWNED, EventCounter)
        }

    async def fill(self, workspace: str, runner_id: str) -> None:
        # One each: the collections' unique indexes allow one raw document per session.
        for document in (*SESSION_OWNED, EventCounter):
            key = f"{workspace}|{runner_id}|{document.__name__}"
            await document.get_pymongo_collection().insert_one(
                {"_id": key, "workspace": workspace, "session_id": runner_id, "batch_id": key,
                 "endpoint": key, "run_id": key, "bucket_no": 0, "seq": 1}
            )

    async def test_deletes_everything_the_session_owns_and_nothing_else(self, db):
        for workspace in ("ours", "theirs"):
            for runner_id in ("doomed", "kept"):
                await create_session(runner_id, workspace=workspace)
                await self.fill(workspace, runner_id)
        assert await delete_session_data("doomed", "ours") is True
        gone = await self.owned("ours", "doomed")
        # The event counter stays, so event numbers of a re-created session keep growing.
        assert gone == {**dict.fromkeys(gone, 0), "EventCounter": 1}
        assert await find_session("doomed", "ours") is None
        assert await Runner.get(runner_key("ours", "doomed")) is not None
        for workspace, runner_id in (("ours", "kept"), ("theirs", "doomed"), ("theirs", "kept")):
            assert set((await self.owned(workspace, runner_id)).values()) == {1}
            assert await find_session(runner_id, workspace) is not None

    async def test_with_the_runner_the_runner_goes_too(self, db):
        await create_session("doomed")
        await self.fill("default", "doomed")
        assert await delete_session_data("doomed", "default", with_runner=True) is True
        assert await Runner.get(runner_key("default", "doomed")) is None
        assert await find_session("doomed", "default") is None
        assert sum((await self.owned("default", "doomed")).values()) == 1  # the event counter

    async def test_without_the_guard_nothing_is_deleted(self, db):
        # A runner whose session was deleted, with leftovers written after (a late task).
        await create_session("lonely")
        await delete_session_data("lonely", "default")
        await self.fill("default", "lonely")
        assert await delete_session_data("lonely", "default") is False
        assert set((await self.owned("default", "lonely")).values()) == {1}
        # The runner guards the web API's delete, and it is still there.
        assert await delete_session_data("lonely", "default", with_runner=True) is True
        assert await self.owned("default", "lonely") == {
            **dict.fromkeys(await self.owned("default", "lonely"), 0), "EventCounter": 1
        }
        assert await delete_session_data("lonely", "default", with_runner=True) is False
