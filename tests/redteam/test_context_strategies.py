"""`add_previous_prompt`: the endpoint's own last prompts and answers, handed in by the domain."""

from functools import partial

import pytest

from models import ChatBucket
from service.api import append_chat_record, reserve_chat_record_ids
from service.api.chats import recent_chat_records
from service.redteam.context_strategies import (
    ContextStrategyError,
    add_previous_prompt,
    apply_context_strategy,
)
from service.redteam.records import error_result
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_session, make_chat_record


class History:
    """An endpoint's records, oldest first, read as the domain hands them: newest first."""

    def __init__(self, *records: dict) -> None:
        self.records = list(records)
        self.asked: list[int] = []

    async def __call__(self, count: int) -> list[dict]:
        self.asked.append(count)
        return list(reversed(self.records))[:count]


def records(count: int) -> list[dict]:
    return [make_chat_record(number, "echo-a").model_dump() for number in range(1, count + 1)]


class TestAddPreviousPrompt:
    async def test_prepends_the_last_pairs_oldest_first(self):
        history = History(*records(5))
        prepared = await add_previous_prompt("New?", 2, history)
        assert prepared == "prompt 4\nanswer 4\n\nprompt 5\nanswer 5\n\nNew?"
        assert history.asked == [2]

    async def test_no_history_or_zero_leaves_the_prompt(self):
        assert await add_previous_prompt("New?", 5, History()) == "New?"
        history = History(*records(3))
        assert await add_previous_prompt("New?", 0, history) == "New?"
        assert history.asked == []

    async def test_failed_prompts_are_left_out(self):
        failed = make_chat_record(2, "echo-a", predicted_result=error_result("timed out"))
        history = History(*records(1), failed.model_dump())
        prepared = await add_previous_prompt("New?", 2, history)
        assert prepared == "prompt 1\nanswer 1\n\nNew?"


class TestContextCap:
    """At most `max_chars` of context: the oldest pairs go first, a pair whole or not at all."""

    # "prompt N\nanswer N" is 17 characters for N < 10; pairs are joined by "\n\n".
    PAIR = len("prompt 1\nanswer 1")

    async def test_context_exactly_at_the_cap_is_kept_whole(self):
        cap = 3 * self.PAIR + 2 * 2
        prepared = await add_previous_prompt("New?", 3, History(*records(5)), cap)
        context = prepared.removesuffix("\n\nNew?")
        assert len(context) == cap
        assert context == "prompt 3\nanswer 3\n\nprompt 4\nanswer 4\n\nprompt 5\nanswer 5"

    async def test_one_character_less_drops_the_oldest_pair(self):
        cap = 3 * self.PAIR + 2 * 2 - 1
        prepared = await add_previous_prompt("New?", 3, History(*records(5)), cap)
        assert prepared == "prompt 4\nanswer 4\n\nprompt 5\nanswer 5\n\nNew?"

    async def test_a_newest_pair_longer_than_the_cap_adds_nothing(self):
        long = make_chat_record(1, "echo-a", predicted_result="x" * 500).model_dump()
        prepared = await add_previous_prompt("New?", 3, History(*records(2), long), 100)
        # Older pairs behind a pair that does not fit are not used either: no gaps in time.
        assert prepared == "New?"

    async def test_a_zero_cap_reads_no_history(self):
        history = History(*records(3))
        assert await add_previous_prompt("New?", 3, history, 0) == "New?"
        assert history.asked == []

    async def test_never_asks_for_more_records_than_can_fit(self):
        history = History(*records(3))
        await add_previous_prompt("New?", 1_000_000, history, 50)
        assert history.asked == [50]

    async def test_apply_passes_the_cap_on(self):
        prepared = await apply_context_strategy(
            "add_previous_prompt", "New?", 5, History(*records(5)), self.PAIR
        )
        assert prepared == "prompt 5\nanswer 5\n\nNew?"


class TestWithTheDomainsHistory:
    """The history `service.api.chats` hands the pipeline, read through the strategy."""

    async def test_only_this_endpoints_history(self, db):
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        await fill(runner_id, "echo-a", 2)
        await fill(runner_id, "echo-b", 1)
        prepared = await add_previous_prompt("New?", 5, recent(runner_id, "echo-b"))
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
        prepared = await add_previous_prompt("New?", 3, recent(runner_id, "echo-a"))
        assert prepared == (
            f"prompt {total - 2}\nanswer {total - 2}\n\nprompt {total - 1}\nanswer {total - 1}"
            f"\n\nprompt {total}\nanswer {total}\n\nNew?"
        )


def recent(runner_id: str, endpoint: str):
    return partial(recent_chat_records, runner_id, endpoint, workspace="default")


async def fill(runner_id: str, endpoint: str, count: int) -> None:
    for chat_record_id in await reserve_chat_record_ids(runner_id, endpoint, count):
        await append_chat_record(runner_id, endpoint, make_chat_record(chat_record_id, endpoint))


async def test_an_unknown_strategy_fails_cleanly():
    with pytest.raises(ContextStrategyError, match="context strategy nope does not exist"):
        await apply_context_strategy("nope", "p", 1, History())
    assert await apply_context_strategy("", "p", 1, History()) == "p"
