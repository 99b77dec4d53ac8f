"""The audit log: entries recorded per workspace, listed newest first, paginated."""

import pytest

from service.api.audit import list_changes, record_change
from service.api.errors import InvalidInput


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
