"""Changing a session's settings: Moonshot's updates, and several at once at a revision."""

import asyncio

import pytest
from pydantic import ValidationError

from service.api import (
    api_delete_session,
    api_get_all_session_names,
    api_load_session,
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
)
from service.api.errors import InvalidInput, NotFound, Stale
from service.api.sessions.edits import get_session_revision, update_session
from service.api.sessions.schemas import SessionChanges
from tests.api.sessions.support import RUNNER_MISSING
from tests.factories import create_session

UPDATES = [
    (api_update_prompt_template, "prompt_template", "answer-template", "Prompt Template"),
    (api_update_context_strategy, "context_strategy", "add_previous_prompt", "Context Strategy"),
    (api_update_attack_module, "attack_module", "sample_attack_module", "Attack Module"),
    (api_update_metric, "metric", "exactstrmatch", "Metric"),
]


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
        message = rf"^\[Session\] {kind} missing-thing does not exist\.$"
        with pytest.raises(RuntimeError, match=message):
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
