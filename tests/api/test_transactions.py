"""Deleting a session is all-or-nothing where the server has transactions, orphan-free anywhere."""

import asyncio

import pytest

from models import ChatBucket, Session
from service.api import api_delete_session, append_chat_records, reserve_chat_record_ids
from service.api.sessions.store import find_session
from service.api.transactions import in_transaction
from tests.factories import create_session, make_chat_record


class SessionDeleteFailed(Exception):
    """Stands for a crash or lost connection between the delete's writes."""


@pytest.fixture
def failing_session_delete(monkeypatch):
    collection = Session.get_pymongo_collection()

    async def fail(*args, **kwargs):
        raise SessionDeleteFailed

    monkeypatch.setattr(collection, "delete_one", fail)


async def test_a_failed_delete_leaves_no_orphan_buckets(db, tier, failing_session_delete):
    runner_id = await create_session(endpoints=["echo-a"])
    ids = await reserve_chat_record_ids(runner_id, "echo-a", 25)
    await append_chat_records(runner_id, "echo-a", [make_chat_record(i) for i in ids])

    with pytest.raises(SessionDeleteFailed):
        await api_delete_session(runner_id)

    assert await find_session(runner_id, "default") is not None
    buckets = await ChatBucket.find(ChatBucket.session_id == runner_id).count()
    if tier == "server":
        # The transaction rolled back: the session keeps every record.
        assert db.supports_transactions
        assert buckets == 3
    else:
        # No transactions in memory: chats go first, so what is left is a deletable session.
        assert not db.supports_transactions
        assert buckets == 0


async def test_on_the_embedded_server_this_process_runs_one_transaction_at_a_time(db, tier):
    # SecantusDB can deadlock with two transactions open while a plain write waits on one of
    # them (`Database.transaction_turn`): the second waits for the first to end.
    steps: list[str] = []
    first_inside = asyncio.Event()
    release_first = asyncio.Event()

    async def first(session):
        steps.append("first starts")
        first_inside.set()
        await release_first.wait()
        steps.append("first ends")

    async def second(session):
        steps.append("second starts")

    first_running = asyncio.create_task(in_transaction(first))
    await first_inside.wait()
    second_running = asyncio.create_task(in_transaction(second))
    # Turns of the loop, not time: each lets the second go as far as it can without a reply.
    for _ in range(50):
        await asyncio.sleep(0)
    if tier == "server":
        assert db.transaction_turn is not None
        assert steps == ["first starts"]
    else:
        # No transactions in memory, nothing to take turns over.
        assert db.transaction_turn is None
        assert steps == ["first starts", "second starts"]
    release_first.set()
    await asyncio.gather(first_running, second_running)
    assert sorted(steps) == ["first ends", "first starts", "second starts"]
    if tier == "server":
        assert steps == ["first starts", "first ends", "second starts"]
