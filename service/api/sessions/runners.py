"""Runners, as the web API handles them: created and deleted together with their session."""

import time
from typing import Any

from pymongo.errors import DuplicateKeyError

from models import Runner
from models.keys import runner_key
from service.api.context import require_database
from service.api.errors import RUNNER_NOT_FOUND, Conflict, NotFound
from service.api.paging import check_page
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.checks import check_named_settings, runner_id_for
from service.api.sessions.schemas import RunnerInfo, SessionMetadata
from service.api.sessions.store import (
    delete_session_data,
    find_session,
    metadata_of,
    new_session_document,
)


async def require_runner(runner_id: str, workspace: str) -> Runner:
    """The runner, or Moonshot's RuntimeError for a runner that never existed."""
    require_database()
    runner = await Runner.get(runner_key(workspace, runner_id))
    if runner is None:
        raise NotFound(RUNNER_NOT_FOUND)
    return runner


async def require_session(
    runner_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> SessionMetadata:
    """The runner's session, or NotFound naming it (the web API's view: no runner, no session)."""
    require_database()
    metadata = await find_session(runner_id, workspace)
    if metadata is None:
        raise NotFound(f"Session {runner_id} does not exist.")
    return metadata


async def create_runner_with_session(
    name: str,
    description: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> tuple[RunnerInfo, SessionMetadata]:
    """Create a runner and its session in one go; Conflict when the name is taken."""
    runner_id = runner_id_for(name)
    require_database()
    await check_named_settings(runner_args, workspace)
    runner = Runner(
        id=runner_key(workspace, runner_id),
        workspace=workspace,
        runner_id=runner_id,
        name=name,
        description=description,
        endpoints=list(endpoints),
        created_at=time.time(),
    )
    try:
        await runner.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"Runner {runner_id} already exists.") from error
    session = new_session_document(
        runner_id, endpoints, runner_args, workspace, runner_name=name, description=description
    )
    try:
        await session.insert()
    except BaseException:
        # The pair is created together or not at all.
        await Runner.get_pymongo_collection().delete_one({"_id": runner.id})
        raise
    return runner_info(runner), metadata_of(session)


async def get_runner(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> RunnerInfo:
    require_database()
    runner = await Runner.get(runner_key(workspace, runner_id))
    if runner is None:
        raise NotFound(f"Runner {runner_id} does not exist.")
    return runner_info(runner)


async def list_runners(
    *, workspace: str = DEFAULT_WORKSPACE, limit: int | None = None, offset: int = 0
) -> list[RunnerInfo]:
    """The workspace's runners by id; InvalidInput for a `limit` or `offset` out of bounds."""
    check_page(limit=limit, offset=offset)
    require_database()
    query = Runner.find(Runner.workspace == workspace).sort("+runner_id").skip(offset)
    if limit is not None:
        query = query.limit(limit)
    return [runner_info(runner) async for runner in query]


async def delete_runner(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
    """Delete the runner, its session and all its chats, so the name can be used again."""
    require_database()
    if await Runner.get(runner_key(workspace, runner_id)) is None:
        raise NotFound(f"Session {runner_id} does not exist.")
    await delete_session_data(runner_id, workspace, with_runner=True)


def runner_info(runner: Runner) -> RunnerInfo:
    return RunnerInfo(
        id=runner.runner_id,
        name=runner.name,
        description=runner.description,
        endpoints=runner.endpoints,
    )
