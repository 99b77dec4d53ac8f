"""Session documents: made from `runner_args` as Moonshot reads them, listed by one query."""

import pytest
from pydantic import ValidationError

from models.keys import runner_key
from service.api.sessions.store import (
    METADATA_FIELDS,
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
