"""Bookmarked prompts, per workspace: Moonshot's bookmark API (names, answers and texts kept).

Moonshot answers a failed insert or delete with `{"success": False, ...}`; here those raise
(`Conflict`, `NotFound`), so both faces map them once, and success keeps Moonshot's dict.
"""

import re
import time
from datetime import datetime
from typing import Any

from beanie import SortDirection
from beanie.operators import In
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from models import Bookmark
from models.bookmarks import bookmark_key
from service.api.context import require_database
from service.api.errors import Conflict, InvalidInput, NotFound
from service.api.paging import check_page
from service.api.schemas import DEFAULT_WORKSPACE

# Longest text each field may hold. A bookmark copies one prompt and one answer; the limits keep
# a document far below MongoDB's 16 MiB and match what the prompt route accepts.
MAX_NAME_CHARS = 256
MAX_PROMPT_CHARS = 100_000
MAX_RESPONSE_CHARS = 1_000_000
# Names of a template, strategy, attack module or metric.
MAX_SETTING_CHARS = 256
TEXT_LIMITS = {
    "name": MAX_NAME_CHARS,
    "prompt": MAX_PROMPT_CHARS,
    "prepared_prompt": MAX_PROMPT_CHARS,
    "response": MAX_RESPONSE_CHARS,
    "context_strategy": MAX_SETTING_CHARS,
    "prompt_template": MAX_SETTING_CHARS,
    "attack_module": MAX_SETTING_CHARS,
    "metric": MAX_SETTING_CHARS,
}
# Fields Moonshot requires to be non-empty.
REQUIRED_FIELDS = ("name", "prompt", "prepared_prompt", "response")
# An export's file name goes into a Content-Disposition header: plain characters only.
EXPORT_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# Moonshot's texts.
ADDED = "[Bookmark] Bookmark added successfully."
DUPLICATE = "[Bookmark] Failed to add bookmark record: UNIQUE constraint failed: bookmark.name"
DELETED = "[Bookmark] Bookmark record deleted."
ALL_DELETED = "[Bookmark] All bookmark records deleted."
NOT_FOUND = "[Bookmark] No record found for bookmark name: {name}"
NOT_FOUND_TO_DELETE = "[Bookmark] Bookmark record not found. Unable to delete."
BAD_EXPORT_NAME = (
    "[Bookmark] Failed to export bookmarks: Export filename must be a non-empty string "
    "of letters, digits, '.', '_' or '-' (at most 100)."
)


class BookmarkId(BaseModel):
    """A bookmark read for its `_id` only."""

    id: str = Field(alias="_id")


def _moonshot_dict(bookmark: Bookmark) -> dict[str, Any]:
    """Moonshot's `BookmarkArguments` dict."""
    return bookmark.model_dump(include={
        "name", "prompt", "prepared_prompt", "response", "context_strategy", "prompt_template",
        "attack_module", "metric", "bookmark_time",
    })


def _check_texts(texts: dict[str, str]) -> None:
    for field, value in texts.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{field} must be a string.", field=field)
        if field in REQUIRED_FIELDS and not value:
            raise InvalidInput(f"{field} must not be empty.", field=field)
        if len(value) > TEXT_LIMITS[field]:
            raise InvalidInput(
                f"{field} must be at most {TEXT_LIMITS[field]} characters.", field=field
            )


def bookmark_time_now() -> str:
    """Moonshot's `bookmark_time`: local time to the second, date and time split by a space."""
    return datetime.now().replace(microsecond=0).isoformat(" ")


async def api_insert_bookmark(
    name: str,
    prompt: str,
    prepared_prompt: str,
    response: str,
    context_strategy: str = "",
    prompt_template: str = "",
    attack_module: str = "",
    metric: str = "",
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> dict[str, Any]:
    """Bookmark a prompt and its answer under `name`; a name taken in the workspace conflicts."""
    texts = {
        "name": name, "prompt": prompt, "prepared_prompt": prepared_prompt, "response": response,
        "context_strategy": context_strategy, "prompt_template": prompt_template,
        "attack_module": attack_module, "metric": metric,
    }
    _check_texts(texts)
    require_database()
    bookmark = Bookmark(
        id=bookmark_key(workspace, name),
        workspace=workspace,
        bookmark_time=bookmark_time_now(),
        created_at=time.time(),
        **texts,
    )
    try:
        await bookmark.insert()
    except DuplicateKeyError as error:
        raise Conflict(DUPLICATE) from error
    return {"success": True, "message": ADDED}


async def api_get_all_bookmarks(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The workspace's bookmarks, oldest first (Moonshot's insertion order)."""
    check_page(limit=limit, offset=offset)
    require_database()
    bookmarks = await Bookmark.find(
        Bookmark.workspace == workspace,
        sort=[("created_at", SortDirection.ASCENDING), ("name", SortDirection.ASCENDING)],
        skip=offset,
        limit=limit,
    ).to_list()
    return [_moonshot_dict(bookmark) for bookmark in bookmarks]


async def api_get_bookmark(name: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, Any]:
    """One bookmark of the workspace by name."""
    require_database()
    bookmark = await Bookmark.get(bookmark_key(workspace, name))
    if bookmark is None:
        raise NotFound(NOT_FOUND.format(name=name))
    return _moonshot_dict(bookmark)


async def api_delete_bookmark(name: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, Any]:
    """Delete one bookmark of the workspace by name."""
    require_database()
    result = await Bookmark.get_pymongo_collection().delete_one(
        {"_id": bookmark_key(workspace, name)}
    )
    if result.deleted_count == 0:
        raise NotFound(NOT_FOUND_TO_DELETE)
    return {"success": True, "message": DELETED}


async def api_delete_all_bookmark(*, workspace: str = DEFAULT_WORKSPACE) -> dict[str, Any]:
    """Delete every bookmark of the workspace (and no other's)."""
    require_database()
    ids = [
        found.id
        for found in await Bookmark.find(Bookmark.workspace == workspace)
        .project(BookmarkId)
        .to_list()
    ]
    if ids:
        # Addressed by `_id`: the embedded server plans other delete filters as scans.
        await Bookmark.find(In(Bookmark.id, ids)).delete()
    return {"success": True, "message": ALL_DELETED}


async def api_export_bookmarks(
    export_file_name: str = "bookmarks", *, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    """Moonshot's export file's content, `{"bookmarks": [...]}`; the caller names the file.

    Moonshot writes the file into its data folder and returns its path; a shared service keeps
    no files, so the content is returned and the HTTP route sends it as a download.
    """
    if not isinstance(export_file_name, str) or not EXPORT_FILE_NAME.fullmatch(export_file_name):
        raise InvalidInput(BAD_EXPORT_NAME, field="export_file_name")
    return {"bookmarks": await api_get_all_bookmarks(workspace=workspace)}
