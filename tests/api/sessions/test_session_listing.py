"""Session listings page by a keyset cursor (`after`), read only the listed fields, and carry a
revision that changes with anything listed."""

import pytest
from pydantic import ValidationError

from models import Session
from service.api import (
    api_create_session,
    api_delete_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_get_available_session_info,
    api_update_metric,
    api_update_system_prompt,
)
from service.api.errors import InvalidInput
from service.api.paging import encode_after
from service.api.sessions.store import METADATA_FIELDS, ListingPosition, list_session_documents
from service.api.sessions.views import list_session_page
from tests.factories import create_runner, create_session

SAME_SECOND = "20240101-120000"
EARLIER_SECOND = "20240101-115959"


async def place(workspace: str, placements: dict[str, tuple[str, str]]) -> None:
    """Give sessions chosen creation times (datetime, epoch), to make ties on purpose."""
    for runner_id, (created_datetime, created_epoch) in placements.items():
        await Session.get_pymongo_collection().update_one(
            {"workspace": workspace, "session_id": runner_id},
            {"$set": {"created_datetime": created_datetime, "created_epoch": created_epoch}},
        )


async def tied_sessions(workspace: str = "default") -> list[str]:
    """Seven sessions: five in one second (three of one same epoch), two a second earlier;
    their ids in listing order."""
    names = ["s-a", "s-b", "s-c", "s-d", "s-e", "s-f", "s-g"]
    for name in names:
        await create_session(name, workspace=workspace)
    await place(workspace, {
        "s-a": (SAME_SECOND, "1704110400.5"),
        "s-b": (SAME_SECOND, "1704110400.5"),
        "s-c": (SAME_SECOND, "1704110400.5"),
        "s-d": (SAME_SECOND, "1704110400.75"),
        "s-e": (SAME_SECOND, "1704110400.25"),
        "s-f": (EARLIER_SECOND, "1704110399.5"),
        "s-g": (EARLIER_SECOND, "1704110399.5"),
    })
    # Newest first by datetime, then epoch, then runner id (descending).
    return ["s-d", "s-c", "s-b", "s-a", "s-e", "s-g", "s-f"]


async def every_page(limit: int, **options) -> tuple[list[str], int]:
    """All names, page by page following `next_after`; and how many pages it took."""
    names: list[str] = []
    after = None
    pages = 0
    while True:
        page = await list_session_page(limit=limit, after=after, names_only=True, **options)
        names += page.items
        pages += 1
        if page.next_after is None:
            return names, pages
        after = page.next_after


class TestOrderAndKeysetPaging:
    async def test_ties_are_ordered_by_epoch_then_runner_id(self, db):
        expected = await tied_sessions()
        assert await api_get_all_session_names() == expected
        metadata = await api_get_all_session_metadata()
        assert [item["session_id"] for item in metadata] == expected

    @pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 7, 8])
    async def test_pages_cover_everything_once_in_order(self, db, limit):
        expected = await tied_sessions()
        names, pages = await every_page(limit)
        assert names == expected
        # One document more than asked tells the last page: no empty page after it.
        assert pages == -(-len(expected) // limit)

    async def test_no_next_cursor_without_a_limit_or_past_the_last(self, db):
        await tied_sessions()
        assert (await list_session_page()).next_after is None
        assert (await list_session_page(limit=7)).next_after is None
        assert (await list_session_page(limit=6)).next_after is not None

    async def test_a_session_created_between_pages_neither_repeats_nor_skips(self, db):
        expected = await tied_sessions()
        first = await list_session_page(limit=3, names_only=True)
        await create_session("s-newest")
        await api_delete_session("s-c")
        second = await list_session_page(limit=10, after=first.next_after, names_only=True)
        assert first.items == expected[:3]
        # Offsets would now repeat s-b; the cursor continues right after it.
        assert second.items == expected[3:]

    async def test_the_moonshot_functions_take_the_cursor_too(self, db):
        expected = await tied_sessions()
        first = await list_session_page(limit=2)
        assert await api_get_all_session_names(after=first.next_after, limit=3) == expected[2:5]
        names, metadata = await api_get_available_session_info(after=first.next_after)
        assert names == [item["session_id"] for item in metadata] == expected[2:]

    async def test_offset_skips_past_the_cursor(self, db):
        expected = await tied_sessions()
        after = (await list_session_page(limit=1)).next_after
        for offset in range(len(expected)):
            page = await list_session_page(limit=2, offset=offset, after=after, names_only=True)
            assert page.items == expected[1 + offset:3 + offset], offset

    async def test_another_workspaces_cursor_lists_only_this_workspace(self, db):
        await tied_sessions("theirs")
        mine = [await create_session(f"mine-{n}", workspace="ours") for n in range(3)]
        theirs = (await list_session_page(limit=1, workspace="theirs")).next_after
        # A position is a time and a name: past it, only this workspace's sessions.
        listed = await list_session_page(after=theirs, workspace="ours", names_only=True)
        assert set(listed.items) <= set(mine)
        assert "s-c" not in (await api_get_all_session_names(workspace="ours"))


class TestBadCursors:
    @pytest.mark.parametrize(
        "after",
        [
            "not a cursor!",
            encode_after(("only", "two")),
            encode_after(("a", "b", "c", "d")),
            "W10",  # an empty list
            "eyJhIjoxfQ",  # an object
            encode_after(("a", "b", "c"))[:-3] + "@@@",
            "x" * 1_025,
        ],
    )
    async def test_is_invalid_input_naming_after(self, db, after):
        with pytest.raises(InvalidInput) as raised:
            await list_session_page(after=after)
        assert raised.value.field == "after"

    async def test_the_session_api_refuses_an_empty_or_huge_cursor(self, db):
        with pytest.raises(ValidationError):
            await api_get_all_session_metadata(after="")
        with pytest.raises(ValidationError):
            await api_get_all_session_names(after="x" * 1_025)
        with pytest.raises(InvalidInput):
            await api_get_all_session_names(after="bad")

    async def test_a_well_formed_cursor_of_nothing_lists_what_follows_it(self, db):
        expected = await tied_sessions()
        after = encode_after((SAME_SECOND, "1704110400.5", "s-b"))
        assert (await list_session_page(after=after, names_only=True)).items == expected[3:]
        nowhere = encode_after(("00000000-000000", "0", ""))
        assert (await list_session_page(after=nowhere)).items == []


class TestProjection:
    async def test_every_listed_field_and_nothing_else(self, db):
        await create_runner("Listed One", description="the first", system_prompt="be brief")
        (item,) = (await list_session_page()).items
        assert set(item) == {*METADATA_FIELDS, "description"}
        assert (item["description"], item["system_prompt"]) == ("the first", "be brief")
        (metadata,) = await api_get_all_session_metadata()
        assert set(metadata) == set(METADATA_FIELDS)
        assert {key: item[key] for key in METADATA_FIELDS} == metadata

    async def test_past_a_cursor_documents_carry_only_the_fields_asked(self, db):
        await tied_sessions()
        position = ListingPosition(SAME_SECOND, "1704110400.5", "s-c")
        documents = await list_session_documents(
            "default", limit=None, offset=0, fields=("system_prompt",), after=position
        )
        # s-b, s-a, s-e of the same second, then s-g and s-f of the one before.
        assert documents == [{"system_prompt": ""}] * 5


class TestRevision:
    async def test_changes_with_every_create_update_and_delete(self, db):
        await create_session("first")
        seen = {(await list_session_page()).revision}

        async def changed() -> bool:
            revision = (await list_session_page()).revision
            new = revision not in seen
            seen.add(revision)
            return new

        assert (await list_session_page()).revision in seen  # stable while nothing changes
        await create_session("second")
        assert await changed()
        await api_update_system_prompt("first", "be brief")
        assert await changed()
        await api_update_metric("first", "")
        assert not await changed()  # the metric was "" already: nothing listed changed
        await api_delete_session("second")
        assert await changed()
        await api_create_session("second", None, ["echo-a", "echo-b"], {})
        # Re-created: the same name, but a new creation time.
        assert await changed()

    async def test_another_workspace_neither_changes_it_nor_shares_it(self, db):
        await create_session("mine", workspace="ours")
        ours = (await list_session_page(workspace="ours")).revision
        await create_session("theirs", workspace="theirs")
        await api_update_system_prompt("theirs", "x", workspace="theirs")
        assert (await list_session_page(workspace="ours")).revision == ours
        # Two empty workspaces list the same (nothing), yet their revisions differ.
        empty_a = (await list_session_page(workspace="empty-a")).revision
        assert empty_a != (await list_session_page(workspace="empty-b")).revision

    async def test_differs_by_page(self, db):
        await tied_sessions()
        first = await list_session_page(limit=2)
        second = await list_session_page(limit=2, after=first.next_after)
        assert first.revision != second.revision
