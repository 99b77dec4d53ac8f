"""Reading sessions: Moonshot's listings and chats, and the web API's views with runners."""

from collections.abc import AsyncIterator
from typing import Any

from pydantic import validate_call

from service.api.chats import iter_chat_records
from service.api.errors import NotFound
from service.api.paging import Limit, Offset, check_page
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_runner, require_session
from service.api.sessions.schemas import ChatPage, SessionView
from service.api.sessions.store import (
    METADATA_FIELDS,
    find_session,
    list_session_documents,
    metadata_of,
    read_session,
    revision_of,
)


async def _list_sessions(
    workspace: str, limit: int | None, offset: int, *, with_description: bool
) -> list[dict[str, Any]]:
    # Both faces list through here: one query, its arguments checked as each face promises.
    fields = (*METADATA_FIELDS, "description") if with_description else METADATA_FIELDS
    documents = await list_session_documents(workspace, limit=limit, offset=offset, fields=fields)
    if not with_description:
        return [metadata_of(document).to_dict() for document in documents]
    return [
        {**metadata_of(document).to_dict(), "description": document.get("description", "")}
        for document in documents
    ]


@validate_call
async def api_get_all_session_metadata(
    *, workspace: str = DEFAULT_WORKSPACE, limit: Limit = None, offset: Offset = 0
) -> list[dict]:
    """Every session's metadata, newest first by `created_datetime`, then `created_epoch`."""
    return await _list_sessions(workspace, limit, offset, with_description=False)


async def list_session_summaries(
    *, workspace: str = DEFAULT_WORKSPACE, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """`api_get_all_session_metadata` plus each runner's `description`, as the web API lists.

    A `limit` or `offset` out of bounds is InvalidInput naming it.
    """
    check_page(limit=limit, offset=offset)
    return await _list_sessions(workspace, limit, offset, with_description=True)


@validate_call
async def api_get_all_session_names(
    *, workspace: str = DEFAULT_WORKSPACE, limit: Limit = None, offset: Offset = 0
) -> list[str]:
    """Runner ids that have a session, newest first."""
    documents = await list_session_documents(
        workspace, limit=limit, offset=offset, fields=("session_id",)
    )
    return [document["session_id"] for document in documents]


@validate_call
async def api_get_available_session_info(
    *, workspace: str = DEFAULT_WORKSPACE, limit: Limit = None, offset: Offset = 0
) -> tuple[list[str], list[dict]]:
    """(runner ids, metadata dicts) of the sessions there are, in the same order."""
    metadata = await api_get_all_session_metadata(workspace=workspace, limit=limit, offset=offset)
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
