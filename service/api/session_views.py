"""Sessions as Moonshot's web API shows them: with their runner, a missing session is NotFound."""

from collections.abc import AsyncIterator
from typing import Any

from models import Session
from models.keys import runner_key
from service.api.chats import iter_chat_records
from service.api.context import require_database
from service.api.endpoints import require_endpoints
from service.api.errors import InvalidInput, NotFound
from service.api.paging import check_limit
from service.api.runners import create_runner_with_session, require_session
from service.api.schemas import DEFAULT_WORKSPACE, ChatPage, SessionView
from service.api.session_edits import revision_of
from service.api.sessions import (
    METADATA_FIELDS,
    NEWEST_FIRST,
    api_get_all_chats_from_session,
    metadata_of,
)


async def require_known_endpoints(
    endpoints: list[str], *, workspace: str = DEFAULT_WORKSPACE
) -> None:
    """The one check that a new session's endpoints exist in the workspace's endpoint registry.

    Raises `InvalidInput(field="endpoints")` naming the first id that is missing.
    """
    await require_endpoints(endpoints, workspace=workspace)


async def create_session_view(
    name: str,
    description: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> SessionView:
    """Create a runner and its session as `POST /api/v1/sessions` does; Conflict if taken."""
    await require_known_endpoints(endpoints, workspace=workspace)
    runner, metadata = await create_runner_with_session(
        name, description, endpoints, runner_args, workspace=workspace
    )
    return SessionView(
        session_name=runner.name, session_description=runner.description, session=metadata
    )


async def get_session_view(
    runner_id: str, *, include_history: bool = False, workspace: str = DEFAULT_WORKSPACE
) -> SessionView:
    """The session with its runner's name and description, and all its chats if asked."""
    require_database()
    # One read gives the metadata, the runner's name and description, and the revision.
    document = await Session.get_pymongo_collection().find_one(
        {"_id": runner_key(workspace, runner_id)}
    )
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


async def list_session_summaries(
    *, workspace: str = DEFAULT_WORKSPACE, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Every session's metadata plus its runner's `description`, newest first."""
    check_limit(limit)
    if offset < 0:
        raise InvalidInput("offset must be 0 or more.", field="offset")
    require_database()
    cursor = Session.get_pymongo_collection().find(
        {"workspace": workspace},
        {"_id": 0, "description": 1, **{name: 1 for name in METADATA_FIELDS}},
        sort=NEWEST_FIRST,
        skip=offset,
        limit=limit or 0,
    )
    return [
        {**metadata_of(document).to_dict(), "description": document.get("description", "")}
        async for document in cursor
    ]


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
    check_limit(limit)
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
