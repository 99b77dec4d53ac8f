"""Runners, as the web API handles them: created and deleted together with their session."""

import contextlib
import time
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from models import Runner, Session
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
from service.api.transactions import in_transaction


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


def runner_document(
    workspace: str, runner_id: str, name: str, description: str, endpoints: list[str]
) -> Runner:
    """A new runner, as a create (or an import) stores it."""
    return Runner(
        id=runner_key(workspace, runner_id),
        workspace=workspace,
        runner_id=runner_id,
        name=name,
        description=description,
        endpoints=list(endpoints),
        created_at=time.time(),
    )


async def create_runner_with_session(
    name: str,
    description: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> tuple[RunnerInfo, SessionMetadata]:
    """Create a runner and its session in one go; Conflict when the name is taken.

    Both or neither: one transaction where the server has them. Without (mongomock, a
    standalone mongod) the runner is written first, so a create cut off between the two writes
    leaves a runner without a session, and the same create sent again completes it.
    """
    runner_id = runner_id_for(name)
    database = require_database()
    await check_named_settings(runner_args, workspace)
    runner = runner_document(workspace, runner_id, name, description, endpoints)
    session = new_session_document(
        runner_id, endpoints, runner_args, workspace, runner_name=name, description=description
    )
    if database.supports_transactions:
        runner = await _insert_together(runner, session)
    else:
        runner = await _insert_in_order(runner, session)
    return runner_info(runner), metadata_of(session)


def _taken(runner: Runner, error: Exception) -> Conflict:
    conflict = Conflict(f"Runner {runner.runner_id} already exists.")
    conflict.__cause__ = error
    return conflict


async def _insert_together(runner: Runner, session: Session) -> Runner:
    async def insert_both(transaction: Any) -> None:
        await runner.insert(session=transaction)
        await session.insert(session=transaction)

    try:
        await in_transaction(insert_both)
    except DuplicateKeyError as error:
        # A runner alone can still be there from before transactions were used.
        return await _complete_earlier_try(runner, session, error)
    return runner


async def _insert_in_order(runner: Runner, session: Session) -> Runner:
    """The runner, then its session; an outage between them is completed by a retry."""
    try:
        await runner.insert()
    except DuplicateKeyError as error:
        return await _complete_earlier_try(runner, session, error)
    try:
        await session.insert()
    except DuplicateKeyError as error:
        # A session of that name is there: the Session API's, or one an identical create
        # completed meanwhile on this runner, which then stays its runner.
        stored = await Session.get(session.id)
        if stored is None or not _same_session(stored, session):
            await _undo_runner(runner)
        raise _taken(runner, error) from error
    except PyMongoError:
        await _undo_runner(runner)
        raise
    return runner


async def _undo_runner(runner: Runner) -> None:
    # Best effort: in an outage this fails too, and the same create sent again completes the
    # pair. Only this create's runner (its `created_at`) is removed.
    with contextlib.suppress(PyMongoError):
        await Runner.get_pymongo_collection().delete_one(
            {"_id": runner.id, "created_at": runner.created_at}
        )


async def _complete_earlier_try(runner: Runner, session: Session, error: Exception) -> Runner:
    """The runner of an earlier try of this very create that stopped before its session, with
    that session written now; Conflict when the name is simply taken."""
    earlier = await Runner.get(runner.id)
    if earlier is None or not _same_runner(earlier, runner):
        raise _taken(runner, error)
    try:
        await session.insert()
    except DuplicateKeyError as taken:
        raise _taken(runner, taken) from taken
    return earlier


def _same_session(stored: Session, wanted: Session) -> bool:
    return (stored.runner_name, stored.description, stored.endpoints) == (
        wanted.runner_name, wanted.description, wanted.endpoints
    )


def _same_runner(stored: Runner, wanted: Runner) -> bool:
    """Whether `stored` is what `wanted` would write, but for when it was written."""
    return stored.model_dump(exclude={"created_at"}) == wanted.model_dump(
        exclude={"created_at"}
    )


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
    if not await delete_session_data(runner_id, workspace, with_runner=True):
        raise NotFound(f"Session {runner_id} does not exist.")


def runner_info(runner: Runner) -> RunnerInfo:
    return RunnerInfo(
        id=runner.runner_id,
        name=runner.name,
        description=runner.description,
        endpoints=runner.endpoints,
    )
