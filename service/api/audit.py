"""The audit log of a workspace: recording changes, and reading them newest first."""

import secrets
import time
from typing import Any

from pydantic import BaseModel, Field

from models import AuditEntry
from models.keys import SEPARATOR
from service.api.context import require_database
from service.api.errors import InvalidInput
from service.api.paging import DEFAULT_PAGE_SIZE, check_limit


class AuditItem(BaseModel):
    """One recorded change, as listed."""

    id: str
    at: float
    workspace: str
    actor: str
    # The API key the actor used; "" for key-less requests and changes made from the shell.
    key_id: str = ""
    action: str
    target: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    """A page of entries, newest first; `next_cursor` fetches the next one, None at the end."""

    entries: list[AuditItem]
    next_cursor: str | None = None


def entry_key(workspace: str, at_ns: int) -> str:
    # Zero-padded, so that ids sort in time order; the random tail keeps equal times apart.
    return SEPARATOR.join((workspace, f"{at_ns:020d}", secrets.token_hex(4)))


async def record_change(
    action: str,
    *,
    workspace: str,
    actor: str,
    key_id: str | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditItem:
    """Add one entry to the workspace's audit log; `key_id` is the key the actor used, if any."""
    require_database()
    at_ns = time.time_ns()
    entry = AuditEntry(
        id=entry_key(workspace, at_ns),
        workspace=workspace,
        actor=actor,
        key_id=key_id or "",
        action=action,
        target=target,
        details=details or {},
        at=at_ns / 1e9,
    )
    await entry.insert()
    return _item(entry.model_dump(by_alias=True))


async def list_changes(
    *, workspace: str, limit: int | None = None, cursor: str | None = None
) -> AuditPage:
    """The workspace's entries, newest first; `cursor` continues after a previous page.

    Without `limit`, one page of DEFAULT_PAGE_SIZE: a log only grows, so it always pages. The
    cursor is the last entry's `_id`, so each page is one range read on the
    (workspace, _id) index, however deep it is.
    """
    check_limit(limit)
    if limit is None:
        limit = DEFAULT_PAGE_SIZE
    query: dict[str, Any] = {"workspace": workspace}
    if cursor is not None:
        if not cursor.startswith(workspace + SEPARATOR):
            raise InvalidInput("cursor is not one this listing returned.", field="cursor")
        query["_id"] = {"$lt": cursor}
    require_database()
    # One entry more than asked tells whether another page follows, without counting.
    documents = AuditEntry.get_pymongo_collection().find(
        query, sort=[("_id", -1)], limit=limit + 1
    )
    entries = [_item(document) async for document in documents]
    if len(entries) > limit:
        return AuditPage(entries=entries[:limit], next_cursor=entries[limit - 1].id)
    return AuditPage(entries=entries)


def _item(document: dict[str, Any]) -> AuditItem:
    return AuditItem(
        id=document["_id"],
        at=document["at"],
        workspace=document["workspace"],
        actor=document["actor"],
        key_id=document.get("key_id", ""),
        action=document["action"],
        target=document.get("target", ""),
        details=document.get("details", {}),
    )
