"""Deleting a session is all-or-nothing where the server has transactions, orphan-free anywhere."""

import pytest

from models import ChatBucket, Session
from service.api import api_delete_session, append_chat_records, reserve_chat_record_ids
from service.api.sessions.store import find_session
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
