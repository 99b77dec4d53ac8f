"""`add_previous_prompt`: the endpoint's own last prompts and answers, from the newest buckets."""

import pytest

from models import ChatBucket
from service.api import append_chat_record, reserve_chat_record_ids
from service.redteam.context_strategies import (
    ContextStrategyError,
    add_previous_prompt,
    apply_context_strategy,
)
from service.redteam.records import error_result
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_session, make_chat_record


async def fill(runner_id: str, endpoint: str, count: int) -> None:
    for chat_record_id in await reserve_chat_record_ids(runner_id, endpoint, count):
        await append_chat_record(runner_id, endpoint, make_chat_record(chat_record_id, endpoint))


class TestAddPreviousPrompt:
    async def test_prepends_the_last_pairs_oldest_first(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        await fill(runner_id, "echo-a", 5)
        prepared = await add_previous_prompt(runner_id, "echo-a", "New?", 2, "default")
        assert prepared == "prompt 4\nanswer 4\n\nprompt 5\nanswer 5\n\nNew?"

    async def test_only_this_endpoints_history(self, db):
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        await fill(runner_id, "echo-a", 2)
        await fill(runner_id, "echo-b", 1)
        prepared = await add_previous_prompt(runner_id, "echo-b", "New?", 5, "default")
        assert prepared == "prompt 1\nanswer 1\n\nNew?"

    async def test_no_history_or_zero_leaves_the_prompt(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        assert await add_previous_prompt(runner_id, "echo-a", "New?", 5, "default") == "New?"
        await fill(runner_id, "echo-a", 3)
        assert await add_previous_prompt(runner_id, "echo-a", "New?", 0, "default") == "New?"

    async def test_failed_prompts_are_left_out(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        await fill(runner_id, "echo-a", 1)
        (failed,) = await reserve_chat_record_ids(runner_id, "echo-a", 1)
        await append_chat_record(
            runner_id, "echo-a",
            make_chat_record(failed, "echo-a", predicted_result=error_result("timed out")),
        )
        prepared = await add_previous_prompt(runner_id, "echo-a", "New?", 2, "default")
        assert prepared == "prompt 1\nanswer 1\n\nNew?"

    async def test_reads_only_the_newest_buckets(self, db):
        runner_id = await create_session(endpoints=["echo-a"])
        total = TEST_BUCKET_SIZE * 5
        await fill(runner_id, "echo-a", total)
        # Spoil every bucket but the two newest: reading any of them would fail.
        newest_two = {total // TEST_BUCKET_SIZE, total // TEST_BUCKET_SIZE - 1}
        await ChatBucket.get_pymongo_collection().update_many(
            {"session_id": runner_id, "bucket_no": {"$nin": sorted(newest_two)}},
            {"$set": {"records": "not a list"}},
        )
        prepared = await add_previous_prompt(runner_id, "echo-a", "New?", 3, "default")
        assert prepared == (
            f"prompt {total - 2}\nanswer {total - 2}\n\nprompt {total - 1}\nanswer {total - 1}"
            f"\n\nprompt {total}\nanswer {total}\n\nNew?"
        )


async def test_an_unknown_strategy_fails_cleanly(db):
    with pytest.raises(ContextStrategyError, match="context strategy nope does not exist"):
        await apply_context_strategy("nope", "r", "e", "p", 1, workspace="default")
    assert await apply_context_strategy("", "r", "e", "p", 1, workspace="default") == "p"
