"""Chat record ids, idempotent appends into bounded buckets, and paginated reads."""

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from models import ChatBucket
from service.api.chats import (
    append_chat_record,
    append_chat_records,
    iter_chat_records,
    reserve_chat_record_id,
    reserve_chat_record_ids,
)
from service.api.errors import InvalidInput
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import create_session, make_chat_record


class LosesFirstReply:
    """The chat bucket collection, but the first update's reply is lost after it was applied:
    what a dropped connection does to a write the server has already made."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.lost = 0

    async def update_one(self, *arguments: Any, **keywords: Any) -> Any:
        result = await self.collection.update_one(*arguments, **keywords)
        if not self.lost:
            self.lost += 1
            raise AutoReconnect("connection closed")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


async def stored_ids(runner_id: str, endpoint: str = "echo-a") -> list[int]:
    return [r["chat_record_id"] async for r in iter_chat_records(runner_id, endpoint)]


class TestReserveChatRecordIds:
    async def test_ids_increase_per_session_and_endpoint(self, db):
        runner_id = await create_session()
        assert await reserve_chat_record_id(runner_id, "echo-a") == 1
        assert await reserve_chat_record_id(runner_id, "echo-a") == 2
        assert await reserve_chat_record_id(runner_id, "echo-b") == 1
        assert await reserve_chat_record_ids(runner_id, "echo-a", 3) == [3, 4, 5]
        assert await reserve_chat_record_id("other", "echo-a", workspace="w2") == 1

    async def test_concurrent_reservations_never_repeat(self, db):
        runner_id = await create_session()
        ids = await asyncio.gather(
            *(reserve_chat_record_id(runner_id, "echo-a") for _ in range(50))
        )
        assert sorted(ids) == list(range(1, 51))

    async def test_count_must_be_positive(self, db):
        with pytest.raises(InvalidInput) as raised:
            await reserve_chat_record_ids("x", "echo-a", 0)
        assert raised.value.field == "count"


class TestAppendChatRecord:
    async def test_buckets_hold_at_most_bucket_size_records(self, db):
        runner_id = await create_session()
        for _ in range(TEST_BUCKET_SIZE * 3 + 1):
            record_id = await reserve_chat_record_id(runner_id, "echo-a")
            assert await append_chat_record(runner_id, "echo-a", make_chat_record(record_id))
        buckets = await ChatBucket.find(ChatBucket.session_id == runner_id).to_list()
        assert all(len(bucket.records) <= TEST_BUCKET_SIZE for bucket in buckets)
        assert sorted(bucket.bucket_no for bucket in buckets) == [0, 1, 2, 3]
        assert await stored_ids(runner_id) == list(range(1, TEST_BUCKET_SIZE * 3 + 2))

    async def test_same_record_twice_is_stored_once(self, db):
        runner_id = await create_session()
        record = make_chat_record(await reserve_chat_record_id(runner_id, "echo-a"))
        assert await append_chat_record(runner_id, "echo-a", record) is True
        assert await append_chat_record(runner_id, "echo-a", record) is False
        assert await stored_ids(runner_id) == [1]

    async def test_retry_after_the_bucket_filled_is_still_a_no_op(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", TEST_BUCKET_SIZE * 2)
        # Ids start at 1 and bucket n holds ids n*size .. n*size+size-1, so bucket 1 fills up.
        late = make_chat_record(ids[TEST_BUCKET_SIZE + 2])
        await append_chat_record(runner_id, "echo-a", late)
        # Everything else lands, so the bucket holding the late record is full...
        for record_id in ids:
            await append_chat_record(runner_id, "echo-a", make_chat_record(record_id))
        bucket_no = late.chat_record_id // TEST_BUCKET_SIZE
        full = await ChatBucket.find_one(
            ChatBucket.session_id == runner_id, ChatBucket.bucket_no == bucket_no
        )
        assert len(full.records) == TEST_BUCKET_SIZE
        # ...and a retry of the record delivered first adds nothing anywhere.
        assert await append_chat_record(runner_id, "echo-a", late) is False
        assert await stored_ids(runner_id) == ids

    async def test_concurrent_duplicates_and_new_records(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", 25)
        attempts = [make_chat_record(record_id) for record_id in ids for _ in range(3)]
        results = await asyncio.gather(
            *(append_chat_record(runner_id, "echo-a", record) for record in attempts)
        )
        assert sum(results) == 25
        assert await stored_ids(runner_id) == ids

    async def test_batch_append_skips_what_is_there(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", 35)
        first = [make_chat_record(record_id) for record_id in ids[:12]]
        assert await append_chat_records(runner_id, "echo-a", first) == 12
        everything = [make_chat_record(record_id) for record_id in ids]
        assert await append_chat_records(runner_id, "echo-a", everything) == 23
        assert await append_chat_records(runner_id, "echo-a", everything) == 0
        assert await stored_ids(runner_id) == ids

    @pytest.mark.parametrize("batch", [1, 3], ids=["single", "batch"])
    async def test_a_reply_lost_after_the_write_is_resent_without_a_duplicate(
        self, db, monkeypatch, batch
    ):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", batch)
        real = ChatBucket.get_pymongo_collection()
        lost = LosesFirstReply(real)
        monkeypatch.setattr(ChatBucket, "get_pymongo_collection", classmethod(lambda cls: lost))
        stored = await append_chat_records(
            runner_id, "echo-a", [make_chat_record(record_id) for record_id in ids]
        )
        assert lost.lost == 1
        # The write took effect before its reply was lost; the re-send adds nothing.
        assert stored == 0
        monkeypatch.undo()
        assert await stored_ids(runner_id) == ids

    async def test_record_for_another_endpoint_is_refused(self, db):
        runner_id = await create_session()
        with pytest.raises(InvalidInput) as raised:
            await append_chat_record(runner_id, "echo-a", make_chat_record(1, "echo-b"))
        assert raised.value.field == "conn_id"
        assert await stored_ids(runner_id) == []


class TestIterChatRecords:
    async def test_pages_by_cursor(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", 45)
        await append_chat_records(runner_id, "echo-a", [make_chat_record(i) for i in ids])
        first = [
            r["chat_record_id"] async for r in iter_chat_records(runner_id, "echo-a", limit=20)
        ]
        assert first == ids[:20]
        second = [
            r["chat_record_id"]
            async for r in iter_chat_records(runner_id, "echo-a", after=first[-1], limit=20)
        ]
        assert second == ids[20:40]
        newest = [
            r["chat_record_id"]
            async for r in iter_chat_records(runner_id, "echo-a", limit=3, newest_first=True)
        ]
        assert newest == [45, 44, 43]

    async def test_pages_walk_past_buckets_left_empty_by_cancelled_ids(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", 60)
        # Ids 10-29 and 40-49 were cancelled: buckets 1, 2 and 4 never exist.
        kept = [i for i in ids if not (10 <= i <= 29 or 40 <= i <= 49)]
        await append_chat_records(runner_id, "echo-a", [make_chat_record(i) for i in kept])
        forward = [
            r["chat_record_id"] async for r in iter_chat_records(runner_id, "echo-a", limit=15)
        ]
        assert forward == [*range(1, 10), *range(30, 36)]
        backward = [
            r["chat_record_id"]
            async for r in iter_chat_records(runner_id, "echo-a", limit=15, newest_first=True)
        ]
        assert backward == [*range(60, 49, -1), *range(39, 35, -1)]
        everything = [
            r["chat_record_id"]
            async for r in iter_chat_records(runner_id, "echo-a", newest_first=True)
        ]
        assert everything == kept[::-1]

    async def test_a_page_from_another_workspace_sees_nothing(self, db):
        runner_id = await create_session()
        ids = await reserve_chat_record_ids(runner_id, "echo-a", 15)
        await append_chat_records(runner_id, "echo-a", [make_chat_record(i) for i in ids])
        for newest_first in (False, True):
            page = [
                r async for r in iter_chat_records(
                    runner_id, "echo-a", workspace="attacker", limit=10,
                    newest_first=newest_first,
                )
            ]
            assert page == []

    async def test_bad_page_arguments(self, db):
        with pytest.raises(InvalidInput) as raised:
            [r async for r in iter_chat_records("x", "echo-a", limit=0)]
        assert raised.value.field == "limit"
        with pytest.raises(InvalidInput) as raised:
            [r async for r in iter_chat_records("x", "echo-a", after=-1)]
        assert raised.value.field == "cursor"
