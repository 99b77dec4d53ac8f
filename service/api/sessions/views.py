"""Reading sessions: Moonshot's listings and chats, and the web API's views with runners."""

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import astuple
from typing import Any

from pydantic import validate_call

from service.api.chats import iter_chat_records
from service.api.errors import NotFound
from service.api.paging import After, Limit, Offset, check_page, decode_after, encode_after
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_runner, require_session
from service.api.sessions.schemas import ChatPage, SessionListing, SessionView
from service.api.sessions.store import (
    METADATA_FIELDS,
    POSITION_FIELDS,
    ListingPosition,
    find_session,
    list_session_documents,
    metadata_of,
    read_session,
    revision_of,
)


def _position(after: str | None) -> ListingPosition | None:
    return None if after is None else ListingPosition(*decode_after(after, len(POSITION_FIELDS)))


async def _list(
    workspace: str,
    limit: int | None,
    offset: int,
    after: str | None,
    fields: tuple[str, ...],
    item: Callable[[dict[str, Any]], Any],
) -> SessionListing:
    # Every listing goes through here: one query (two when paging past the middle of a second)
    # that reads only the listed fields plus what places a session in the order.
    position = _position(after)
    read = tuple(dict.fromkeys((*fields, *POSITION_FIELDS)))
    # One more than asked tells whether another page follows, without counting.
    documents = await list_session_documents(
        workspace, limit=None if limit is None else limit + 1, offset=offset, fields=read,
        after=position,
    )
    next_after = None
    if limit is not None and len(documents) > limit:
        documents = documents[:limit]
        next_after = encode_after(astuple(ListingPosition.of(documents[-1])))
    items = [item(document) for document in documents]
    return SessionListing(
        items=items, next_after=next_after, revision=_revision(workspace, items, next_after)
    )


def _revision(workspace: str, items: list[Any], next_after: str | None) -> str:
    """A digest of exactly what is listed: any change to a listed field of any listed session
    (a create, update or delete, a re-create under the same name too) changes it, and it can
    never name stale content, since it is computed from the very documents answered. The
    workspace is part of it, so equal listings of two workspaces never share a revision."""
    listed = json.dumps([workspace, items, next_after], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(listed.encode(), digest_size=16).hexdigest()


def _metadata(document: dict[str, Any]) -> dict[str, Any]:
    return metadata_of(document).to_dict()


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    return {**metadata_of(document).to_dict(), "description": document.get("description", "")}


def _name(document: dict[str, Any]) -> str:
    return str(document["session_id"])


@validate_call
async def api_get_all_session_metadata(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: Limit = None,
    offset: Offset = 0,
    after: After = None,
) -> list[dict]:
    """Every session's metadata, newest first by `created_datetime`, then `created_epoch`.

    `after` (the `next_after` of `list_session_page`) starts past a session already listed.
    """
    listing = await _list(workspace, limit, offset, after, METADATA_FIELDS, _metadata)
    return listing.items


async def list_session_page(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: int | None = None,
    offset: int = 0,
    after: str | None = None,
    names_only: bool = False,
) -> SessionListing:
    """A page of the web API's listing: `api_get_all_session_metadata` plus each runner's
    `description` (or, `names_only`, the runner ids), the cursor of the next page and the
    listing's revision.

    A `limit` or `offset` out of bounds, or an `after` that no listing gave, is InvalidInput
    naming it.
    """
    check_page(limit=limit, offset=offset)
    if names_only:
        return await _list(workspace, limit, offset, after, ("session_id",), _name)
    return await _list(
        workspace, limit, offset, after, (*METADATA_FIELDS, "description"), _summary
    )


async def list_session_summaries(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: int | None = None,
    offset: int = 0,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """The items of `list_session_page`."""
    listing = await list_session_page(workspace=workspace, limit=limit, offset=offset, after=after)
    return listing.items


@validate_call
async def api_get_all_session_names(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: Limit = None,
    offset: Offset = 0,
    after: After = None,
) -> list[str]:
    """Runner ids that have a session, newest first."""
    listing = await _list(workspace, limit, offset, after, ("session_id",), _name)
    return listing.items


@validate_call
async def api_get_available_session_info(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: Limit = None,
    offset: Offset = 0,
    after: After = None,
) -> tuple[list[str], list[dict]]:
    """(runner ids, metadata dicts) of the sessions there are, in the same order."""
    metadata = await api_get_all_session_metadata(
        workspace=workspace, limit=limit, offset=offset, after=after
    )
    return [item["session_id"] for item in metadata], metadata


@validate_call
async def api_get_all_chats_from_session(
    runner_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> dict:
    """{endpoint id: [chat record, ...]} for every endpoint of the session, in append order."""
    await require_runner(runner_id, workspace)
    metadata = await find_session(runner_id, workspace)
    if metadata is None:
        return {}
    return {
        endpoint: [
            record
            async for record in iter_chat_records(runner_id, endpoint, workspace=workspace)
        ]
        for endpoint in metadata.endpoints
    }


async def get_session_view(
    runner_id: str, *, include_history: bool = False, workspace: str = DEFAULT_WORKSPACE
) -> SessionView:
    """The session with its runner's name and description, and all its chats if asked."""
    # One read gives the metadata, the runner's name and description, and the revision.
    document = await read_session(runner_id, workspace)
    if document is None:
        raise NotFound(f"Session {runner_id} does not exist.")
    chats = (
        await api_get_all_chats_from_session(runner_id, workspace=workspace)
        if include_history
        else None
    )
    return SessionView(
        session_name=document.get("runner_name") or runner_id,
        session_description=document.get("description", ""),
        session=metadata_of(document),
        chat_records=chats,
        revision=revision_of(document),
    )


async def session_chat_streams(
    runner_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, AsyncIterator[dict[str, Any]]]:
    """Every endpoint's records as a lazy stream, so a large history is never held at once.

    The session is checked here, before anything is read, so a caller can still answer NotFound.
    """
    metadata = await require_session(runner_id, workspace=workspace)
    return {
        endpoint: iter_chat_records(runner_id, endpoint, workspace=workspace)
        for endpoint in metadata.endpoints
    }


async def read_chat_page(
    runner_id: str,
    endpoint: str,
    *,
    after: int = 0,
    limit: int | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ChatPage:
    """The endpoint's records with ids above `after`, at most `limit` of them."""
    check_page(limit=limit, cursor=after)
    metadata = await require_session(runner_id, workspace=workspace)
    if endpoint not in metadata.endpoints:
        raise NotFound(f"Endpoint {endpoint} is not part of session {runner_id}.")
    # One record more than asked tells whether another page follows, without counting.
    fetch = None if limit is None else limit + 1
    records = [
        record
        async for record in iter_chat_records(
            runner_id, endpoint, workspace=workspace, after=after, limit=fetch
        )
    ]
    next_cursor = None
    if limit is not None and len(records) > limit:
        records = records[:limit]
        next_cursor = records[-1]["chat_record_id"]
    return ChatPage(endpoint=endpoint, records=records, next_cursor=next_cursor)
