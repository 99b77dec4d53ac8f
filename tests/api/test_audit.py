"""The audit log: entries recorded per workspace, listed newest first, paginated."""

import pytest

from models import AuditEntry
from service.api.audit import entry_key, list_changes, record_change
from service.api.errors import InvalidInput
from service.api.paging import DEFAULT_PAGE_SIZE, MAX_LIMIT


class TestRecordChange:
    async def test_records_who_what_when_where(self, db):
        entry = await record_change(
            "session.updated", workspace="team", actor="alice", target="my-run",
            details={"field": "metric"},
        )
        page = await list_changes(workspace="team")
        assert page.entries == [entry]
        assert (entry.actor, entry.action, entry.target, entry.details) == (
            "alice", "session.updated", "my-run", {"field": "metric"},
        )
        assert entry.id.startswith("team|") and entry.at > 0
        assert page.next_cursor is None
        # No key was named: a key-less request or the shell.
        assert entry.key_id == ""

    async def test_records_the_key_the_actor_used(self, db):
        entry = await record_change("session.deleted", workspace="team", actor="bob", key_id="k1")
        (listed,) = (await list_changes(workspace="team")).entries
        assert listed == entry and (listed.actor, listed.key_id) == ("bob", "k1")


class TestListChanges:
    async def test_newest_first_and_scoped(self, db):
        for number in range(5):
            await record_change(f"change-{number}", workspace="team", actor="alice")
        await record_change("elsewhere", workspace="other", actor="mallory")
        page = await list_changes(workspace="team")
        assert [entry.action for entry in page.entries] == [
            f"change-{number}" for number in (4, 3, 2, 1, 0)
        ]
        assert [entry.action for entry in (await list_changes(workspace="other")).entries] == [
            "elsewhere"
        ]
        assert (await list_changes(workspace="nobody")).entries == []

    async def test_pages_follow_each_other_without_gaps(self, db):
        for number in range(5):
            await record_change(f"change-{number}", workspace="team", actor="alice")
        first = await list_changes(workspace="team", limit=2)
        second = await list_changes(workspace="team", limit=2, cursor=first.next_cursor)
        third = await list_changes(workspace="team", limit=2, cursor=second.next_cursor)
        actions = [entry.action for page in (first, second, third) for entry in page.entries]
        assert actions == [f"change-{number}" for number in (4, 3, 2, 1, 0)]
        assert third.next_cursor is None

    async def test_a_full_last_page_has_no_next_cursor(self, db):
        for number in range(2):
            await record_change(f"change-{number}", workspace="team", actor="alice")
        page = await list_changes(workspace="team", limit=2)
        assert len(page.entries) == 2 and page.next_cursor is None

    async def test_bad_input(self, db):
        await record_change("mine", workspace="team", actor="alice")
        other = await record_change("theirs", workspace="other", actor="bob")
        with pytest.raises(InvalidInput) as raised:
            await list_changes(workspace="team", limit=0)
        assert raised.value.field == "limit"
        # Another workspace's cursor is refused rather than used to read around the scope.
        with pytest.raises(InvalidInput) as raised:
            await list_changes(workspace="team", cursor=other.id)
        assert raised.value.field == "cursor"


async def insert_entries(workspace: str, count: int) -> list[str]:
    """`count` entries written in one go (as many changes would), their ids newest first."""
    documents = [
        {
            "_id": entry_key(workspace, 1_700_000_000_000_000_000 + number),
            "workspace": workspace, "actor": "alice", "key_id": "", "action": f"change {number}",
            "target": "", "details": {}, "at": 1_700_000_000 + number / 1e9,
        }
        for number in range(count)
    ]
    await AuditEntry.get_pymongo_collection().insert_many(documents)
    return sorted((document["_id"] for document in documents), reverse=True)


class TestPagesByDefault:
    async def test_without_limit_one_default_page_and_a_cursor(self, db):
        ids = await insert_entries("team", 3_000)
        await insert_entries("other", 50)
        page = await list_changes(workspace="team")
        assert [entry.id for entry in page.entries] == ids[:DEFAULT_PAGE_SIZE]
        assert page.next_cursor == ids[DEFAULT_PAGE_SIZE - 1]
        following = await list_changes(workspace="team", cursor=page.next_cursor)
        assert [entry.id for entry in following.entries] == ids[100:200]

    async def test_a_deep_page_by_cursor_and_the_last_page(self, db):
        ids = await insert_entries("team", 2_500)
        page = await list_changes(workspace="team", limit=MAX_LIMIT, cursor=ids[1_999])
        assert [entry.id for entry in page.entries] == ids[2_000:]
        assert page.next_cursor is None

    async def test_exactly_one_page_has_no_next(self, db):
        await insert_entries("team", DEFAULT_PAGE_SIZE)
        page = await list_changes(workspace="team")
        assert (len(page.entries), page.next_cursor) == (DEFAULT_PAGE_SIZE, None)
