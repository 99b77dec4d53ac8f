"""Bookmarks (Moonshot's bookmark API), per workspace, on both database tiers."""

import re

import pytest

from models import Bookmark
from models.bookmarks import bookmark_key
from service.api.bookmarks import (
    ALL_DELETED,
    DELETED,
    MAX_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MAX_RESPONSE_CHARS,
    api_delete_all_bookmark,
    api_delete_bookmark,
    api_export_bookmarks,
    api_get_all_bookmarks,
    api_get_bookmark,
    api_insert_bookmark,
)
from service.api.errors import Conflict, InvalidInput, NotFound

BOOKMARK_FIELDS = {
    "name", "prompt", "prepared_prompt", "response", "context_strategy", "prompt_template",
    "attack_module", "metric", "bookmark_time",
}
# Moonshot's `datetime.now().replace(microsecond=0).isoformat(" ")`.
BOOKMARK_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


async def insert(name: str, *, workspace: str = "default", **fields: str) -> dict:
    values = {
        "prompt": f"prompt of {name}", "prepared_prompt": f"prepared {name}",
        "response": f"answer to {name}", **fields,
    }
    return await api_insert_bookmark(name, workspace=workspace, **values)


class TestApiInsertBookmark:
    async def test_stores_every_field_with_moonshots_time(self, db):
        result = await insert(
            "first", context_strategy="add_previous_prompt", prompt_template="tpl",
            attack_module="charswap_attack", metric="advglue",
        )
        assert result == {"success": True, "message": "[Bookmark] Bookmark added successfully."}
        stored = await api_get_bookmark("first")
        assert set(stored) == BOOKMARK_FIELDS
        assert stored["prepared_prompt"] == "prepared first"
        assert stored["attack_module"] == "charswap_attack" and stored["metric"] == "advglue"
        assert BOOKMARK_TIME.fullmatch(stored["bookmark_time"])

    async def test_is_stored_under_a_deterministic_id(self, db):
        await insert("keyed", workspace="wa")
        document = await Bookmark.get(bookmark_key("wa", "keyed"))
        assert document is not None and document.workspace == "wa"

    async def test_a_taken_name_conflicts_and_keeps_the_first(self, db):
        await insert("twice", response="first answer")
        with pytest.raises(Conflict, match=r"UNIQUE constraint failed: bookmark\.name"):
            await insert("twice", response="second answer")
        assert (await api_get_bookmark("twice"))["response"] == "first answer"

    async def test_the_same_name_in_another_workspace_is_another_bookmark(self, db):
        await insert("shared", workspace="wa")
        await insert("shared", workspace="wb", response="b's answer")
        assert (await api_get_bookmark("shared", workspace="wb"))["response"] == "b's answer"
        assert (await api_get_bookmark("shared", workspace="wa"))["response"] != "b's answer"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", ""),
            ("prompt", ""),
            ("response", ""),
            ("name", "n" * (MAX_NAME_CHARS + 1)),
            ("prompt", "p" * (MAX_PROMPT_CHARS + 1)),
            ("response", "r" * (MAX_RESPONSE_CHARS + 1)),
            ("metric", "m" * 257),
        ],
    )
    async def test_bad_input_names_the_field(self, db, field, value):
        fields = {"name": "bad", "prompt": "p", "prepared_prompt": "pp", "response": "r"}
        fields[field] = value
        with pytest.raises(InvalidInput) as caught:
            await api_insert_bookmark(**fields)
        assert caught.value.field == field
        assert await Bookmark.find_all().count() == 0


class TestApiGetAllBookmarks:
    async def test_lists_the_workspaces_bookmarks_oldest_first(self, db):
        for name in ("b", "a", "c"):
            await insert(name)
        await insert("elsewhere", workspace="other")
        listed = await api_get_all_bookmarks()
        assert [bookmark["name"] for bookmark in listed] == ["b", "a", "c"]
        assert all(set(bookmark) == BOOKMARK_FIELDS for bookmark in listed)

    async def test_pages(self, db):
        for name in ("one", "two", "three"):
            await insert(name)
        page = await api_get_all_bookmarks(limit=1, offset=1)
        assert [bookmark["name"] for bookmark in page] == ["two"]
        with pytest.raises(InvalidInput) as caught:
            await api_get_all_bookmarks(limit=0)
        assert caught.value.field == "limit"

    async def test_empty_workspace_lists_nothing(self, db):
        assert await api_get_all_bookmarks(workspace="empty") == []


class TestApiGetBookmark:
    async def test_unknown_name_is_not_found_with_moonshots_text(self, db):
        with pytest.raises(NotFound, match=r"No record found for bookmark name: nope"):
            await api_get_bookmark("nope")

    async def test_another_workspaces_bookmark_is_not_found(self, db):
        await insert("private", workspace="wa")
        with pytest.raises(NotFound):
            await api_get_bookmark("private", workspace="wb")


class TestApiDeleteBookmark:
    async def test_deletes_only_that_bookmark(self, db):
        await insert("gone")
        await insert("kept")
        assert await api_delete_bookmark("gone") == {"success": True, "message": DELETED}
        assert [bookmark["name"] for bookmark in await api_get_all_bookmarks()] == ["kept"]

    async def test_unknown_name_is_not_found(self, db):
        with pytest.raises(NotFound, match="Bookmark record not found"):
            await api_delete_bookmark("never")

    async def test_cannot_delete_another_workspaces_bookmark(self, db):
        await insert("theirs", workspace="wa")
        with pytest.raises(NotFound):
            await api_delete_bookmark("theirs", workspace="wb")
        assert await api_get_bookmark("theirs", workspace="wa")


class TestApiDeleteAllBookmark:
    async def test_empties_the_workspace_only(self, db):
        await insert("one", workspace="wa")
        await insert("two", workspace="wa")
        await insert("three", workspace="wb")
        assert await api_delete_all_bookmark(workspace="wa") == {
            "success": True, "message": ALL_DELETED,
        }
        assert await api_get_all_bookmarks(workspace="wa") == []
        assert len(await api_get_all_bookmarks(workspace="wb")) == 1


class TestApiExportBookmarks:
    async def test_answers_moonshots_file_content(self, db):
        await insert("exported")
        exported = await api_export_bookmarks()
        assert list(exported) == ["bookmarks"]
        assert [bookmark["name"] for bookmark in exported["bookmarks"]] == ["exported"]

    @pytest.mark.parametrize("file_name", ["", "../etc/passwd", 'a"b', "x" * 101, "a\r\nb"])
    async def test_a_bad_file_name_is_refused(self, db, file_name):
        with pytest.raises(InvalidInput) as caught:
            await api_export_bookmarks(file_name)
        assert caught.value.field == "export_file_name"
