"""Creating, loading and deleting sessions: Moonshot's functions and the web API's create."""

import time
from typing import Any

from pydantic import validate_call
from pymongo.errors import DuplicateKeyError

from models import Runner
from models.keys import runner_key
from service.api.context import require_database, resolve_database
from service.api.endpoints import require_endpoints
from service.api.errors import SESSION_METADATA_NOT_FOUND, NotFound
from service.api.limits import DEFAULT_LIMITS, Limits, check_endpoint_list, check_session_settings
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.checks import check_named_settings, check_runner_id
from service.api.sessions.runners import create_runner_with_session, require_runner
from service.api.sessions.schemas import RunnerSession, SessionView
from service.api.sessions.store import (
    delete_session_data,
    find_session,
    metadata_of,
    new_session_document,
)


@validate_call
async def api_create_session(
    runner_id: str,
    database_instance: Any,
    endpoints: list[str],
    runner_args: dict,
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> RunnerSession:
    """Create the runner's session, or return the one it already has, unchanged."""
    await resolve_database(database_instance)
    check_runner_id(runner_id)
    await check_named_settings(runner_args, workspace)
    existing = await find_session(runner_id, workspace)
    if existing is None:
        # Moonshot only reaches here holding the runner's own database, so the runner exists
        # there by construction; here it is made with the session when it is missing.
        await Runner.get_pymongo_collection().update_one(
            {"_id": runner_key(workspace, runner_id)},
            {
                "$setOnInsert": {
                    "workspace": workspace,
                    "runner_id": runner_id,
                    "name": runner_id,
                    "description": "",
                    "endpoints": list(endpoints),
                    "created_at": time.time(),
                }
            },
            upsert=True,
        )
        document = new_session_document(runner_id, endpoints, runner_args, workspace)
        try:
            await document.insert()
            existing = metadata_of(document)
        except DuplicateKeyError:
            # A concurrent create won the race; like Moonshot, return what is stored.
            existing = await find_session(runner_id, workspace)
            if existing is None:
                raise
    return RunnerSession(
        runner_id=runner_id, runner_args=dict(runner_args), session_metadata=existing
    )


@validate_call
async def api_load_session(
    runner_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> dict | None:
    """The session's metadata dict, or None when the runner has no session."""
    await require_runner(runner_id, workspace)
    metadata = await find_session(runner_id, workspace)
    return None if metadata is None else metadata.to_dict()


@validate_call
async def api_delete_session(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> bool:
    """Remove the session and all its chats; the runner stays, as in Moonshot."""
    require_database()
    if not await delete_session_data(runner_id, workspace):
        # Nothing was deleted: which error Moonshot gives depends on the runner.
        await require_runner(runner_id, workspace)
        raise NotFound(SESSION_METADATA_NOT_FOUND)
    return True


async def create_session_view(
    name: str,
    description: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limits: Limits = DEFAULT_LIMITS,
) -> SessionView:
    """Create a runner and its session as `POST /api/v1/sessions` does; Conflict if taken.

    Unlike `api_create_session`, the endpoints must exist in the workspace's registry:
    InvalidInput(field="endpoints") names the first that does not. The fair-share `limits`
    (endpoints: each once and not too many; system prompt; previous prompts) are checked
    first, so a refused session leaves nothing behind.
    """
    check_endpoint_list(endpoints, limits)
    check_session_settings(runner_args, limits)
    require_database()
    await require_endpoints(endpoints, workspace=workspace)
    runner, metadata = await create_runner_with_session(
        name, description, endpoints, runner_args, workspace=workspace
    )
    return SessionView(
        session_name=runner.name, session_description=runner.description, session=metadata
    )
