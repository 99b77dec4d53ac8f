"""Several settings changed at once, only at the revision the caller saw."""

import asyncio

import pytest
from pydantic import ValidationError

from service.api import api_delete_session, api_load_session, api_update_metric
from service.api.errors import InvalidInput, NotFound, Stale
from service.api.session_edits import SessionChanges, get_session_revision, update_session
from tests.factories import create_session


class TestGetSessionRevision:
    async def test_changes_with_every_change(self, db):
        runner_id = await create_session()
        first = await get_session_revision(runner_id, workspace="default")
        await api_update_metric(runner_id, "exactstrmatch")
        second = await get_session_revision(runner_id, workspace="default")
        assert first.revision != second.revision
        assert second.metadata.metric == "exactstrmatch"

    async def test_a_recreated_session_has_a_new_revision(self, db):
        runner_id = await create_session()
        before = await get_session_revision(runner_id, workspace="default")
        await api_delete_session(runner_id)
        await create_session(runner_id)
        after = await get_session_revision(runner_id, workspace="default")
        assert before.revision != after.revision
        with pytest.raises(Stale):
            await update_session(
                runner_id, SessionChanges(system_prompt="x"), revision=before.revision,
                workspace="default",
            )

    async def test_unknown_and_other_workspace_are_not_found(self, db):
        runner_id = await create_session(workspace="alpha")
        with pytest.raises(NotFound, match=f"Session {runner_id} does not exist."):
            await get_session_revision(runner_id, workspace="beta")


class TestUpdateSession:
    async def test_changes_several_fields_at_once(self, db):
        runner_id = await create_session()
        seen = await get_session_revision(runner_id, workspace="default")
        changes = SessionChanges(
            prompt_template="answer-template", cs_num_of_prev_prompts=2, system_prompt="Terse."
        )
        result = await update_session(
            runner_id, changes, revision=seen.revision, workspace="default"
        )
        stored = await api_load_session(runner_id)
        assert (stored["prompt_template"], stored["cs_num_of_prev_prompts"]) == (
            "answer-template", 2,
        )
        assert stored["system_prompt"] == "Terse." and stored["metric"] == ""
        assert result.metadata.to_dict() == stored
        assert result.revision == (
            await get_session_revision(runner_id, workspace="default")
        ).revision

    async def test_a_stale_revision_changes_nothing(self, db):
        runner_id = await create_session()
        seen = await get_session_revision(runner_id, workspace="default")
        await api_update_metric(runner_id, "exactstrmatch")
        before = await api_load_session(runner_id)
        with pytest.raises(Stale, match="changed since"):
            await update_session(
                runner_id, SessionChanges(system_prompt="lost", metric=""),
                revision=seen.revision, workspace="default",
            )
        assert await api_load_session(runner_id) == before

    async def test_of_two_racing_edits_at_one_revision_exactly_one_wins(self, db):
        runner_id = await create_session()
        seen = await get_session_revision(runner_id, workspace="default")
        results = await asyncio.gather(
            *(
                update_session(
                    runner_id, SessionChanges(system_prompt=f"writer {number}"),
                    revision=seen.revision, workspace="default",
                )
                for number in range(2)
            ),
            return_exceptions=True,
        )
        winners = [result for result in results if not isinstance(result, BaseException)]
        assert len(winners) == 1
        assert sum(isinstance(result, Stale) for result in results) == 1
        assert (await api_load_session(runner_id))["system_prompt"] == (
            winners[0].metadata.system_prompt
        )

    async def test_no_revision_applies_whatever_the_revision(self, db):
        runner_id = await create_session()
        await api_update_metric(runner_id, "exactstrmatch")
        await update_session(
            runner_id, SessionChanges(metric=""), revision=None, workspace="default"
        )
        assert (await api_load_session(runner_id))["metric"] == ""

    @pytest.mark.parametrize("revision", ["garbage", "-1-2", "7"])
    async def test_a_malformed_revision_is_stale(self, db, revision):
        runner_id = await create_session()
        with pytest.raises(Stale):
            await update_session(
                runner_id, SessionChanges(system_prompt="x"), revision=revision,
                workspace="default",
            )

    async def test_bad_input_changes_nothing(self, db):
        runner_id = await create_session()
        seen = await get_session_revision(runner_id, workspace="default")
        with pytest.raises(InvalidInput) as raised:
            await update_session(
                runner_id, SessionChanges(), revision=seen.revision, workspace="default"
            )
        assert raised.value.field == "body"
        with pytest.raises(InvalidInput) as raised:
            await update_session(
                runner_id, SessionChanges(system_prompt="x", metric="nope"),
                revision=seen.revision, workspace="default",
            )
        assert raised.value.field == "metric"
        with pytest.raises(ValidationError):
            SessionChanges(cs_num_of_prev_prompts=-1)
        with pytest.raises(ValidationError):
            SessionChanges(unknown="x")
        after = await get_session_revision(runner_id, workspace="default")
        assert after == seen

    async def test_another_workspace_is_not_found(self, db):
        runner_id = await create_session(workspace="alpha")
        with pytest.raises(NotFound):
            await update_session(
                runner_id, SessionChanges(system_prompt="x"), revision=None, workspace="beta"
            )
        assert (await api_load_session(runner_id, workspace="alpha"))["system_prompt"] == ""
