"""Writes one Moonshot runner and its session, with its whole chat history, into a workspace.

Whole buckets are inserted in batches, each counter is set once, and the session document is
written last: a session is in the workspace only once all of it is. The runner goes first, so
an import cut short leaves a runner without a session, which the next run recognises (same
name), clears and completes.
"""

from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

from models import Runner, Session
from models.keys import runner_key
from models.sessions import SessionSettings
from service.api.context import require_database
from service.api.sessions.checks import check_runner_id
from service.api.sessions.runners import runner_document
from service.api.sessions.store import delete_owned_data, delete_session_data
from service.moonshot_import.reader import RunnerDatabase, RunnerFile, SessionRow
from service.moonshot_import.report import Progress
from service.moonshot_import.writing import ChatWriter, session_document

# The columns of a Moonshot chat row, by the ChatRecord field each fills (`duration` is text
# of seconds there as here).
RECORD_FIELDS = (
    "conn_id", "context_strategy", "prompt_template", "attack_module", "metric", "prompt",
    "prepared_prompt", "system_prompt", "predicted_result", "duration", "prompt_time",
)


class SessionSkipped(Exception):
    """The session is not imported, for the reason given; nothing of it was written."""


@dataclass(frozen=True)
class SessionState:
    """What the workspace already holds of a runner."""

    runner_name: str | None
    has_session: bool


async def state_of(runner_id: str, workspace: str) -> SessionState:
    require_database()
    key = runner_key(workspace, runner_id)
    runner = await Runner.get_pymongo_collection().find_one({"_id": key}, {"name": 1})
    session = await Session.get_pymongo_collection().find_one({"_id": key}, {"_id": 1})
    return SessionState(
        runner_name=None if runner is None else runner["name"], has_session=session is not None
    )


async def import_session(
    runner: RunnerFile,
    database: RunnerDatabase,
    session: SessionRow,
    *,
    workspace: str,
    progress: Progress,
) -> int:
    """Write the runner, its chats and its session; returns the records written.

    SessionSkipped when the workspace holds the session already, or a different runner under
    the same id. On any failure part-way, what was written of this runner is removed again.
    """
    check_runner_id(runner.runner_id)
    state = await state_of(runner.runner_id, workspace)
    if state.has_session:
        raise SessionSkipped("a session with this runner id is already in the workspace")
    resuming = state.runner_name is not None
    if resuming and state.runner_name != runner.name:
        raise SessionSkipped(
            f"runner id taken in the workspace by another runner ({state.runner_name!r})"
        )
    if resuming:
        # Left by an import cut short: its chats and counters go, the runner is reused.
        await delete_owned_data(runner.runner_id, workspace)
    else:
        try:
            await _runner_document(runner, workspace).insert()
        except DuplicateKeyError as error:
            raise SessionSkipped("another import is writing this runner right now") from error
    try:
        written = await _write_chats(runner.runner_id, database, session, workspace, progress)
    except BaseException:
        await delete_session_data(runner.runner_id, workspace, with_runner=True)
        raise
    try:
        await _session_document(runner, session, workspace).insert()
    except DuplicateKeyError as error:
        # Someone made a session on this runner meanwhile (api_create_session on a runner
        # without one): it is theirs now, with what was written, and is left alone.
        raise SessionSkipped("a session was created on this runner during the import") from error
    except BaseException:
        await delete_session_data(runner.runner_id, workspace, with_runner=True)
        raise
    return written


def _runner_document(runner: RunnerFile, workspace: str) -> Runner:
    return runner_document(
        workspace, runner.runner_id, runner.name, runner.description, list(runner.endpoints)
    )


def _session_document(runner: RunnerFile, session: SessionRow, workspace: str) -> Session:
    return session_document(
        workspace,
        runner.runner_id,
        endpoints=list(session.endpoints),
        created_epoch=session.created_epoch,
        created_datetime=session.created_datetime,
        settings=SessionSettings(
            prompt_template=session.prompt_template,
            context_strategy=session.context_strategy,
            cs_num_of_prev_prompts=session.cs_num_of_prev_prompts,
            attack_module=session.attack_module,
            metric=session.metric,
            system_prompt=session.system_prompt,
        ),
        runner_name=runner.name,
        description=runner.description,
    )


async def _write_chats(
    runner_id: str,
    database: RunnerDatabase,
    session: SessionRow,
    workspace: str,
    progress: Progress,
) -> int:
    writer = ChatWriter(
        workspace, runner_id, require_database().bucket_size, on_insert=progress.advance
    )
    for endpoint in dict.fromkeys(session.endpoints):
        # Ids 1, 2, ... as Sparring hands them out: record `n` lands in bucket
        # `n // bucket_size`, exactly where an append would put it.
        for chat_record_id, row in enumerate(database.chat_rows(endpoint), start=1):
            await writer.add(chat_record(chat_record_id, endpoint, row))
    return await writer.finish()


def chat_record(chat_record_id: int, endpoint: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored ChatRecord (as `ChatRecord.model_dump()` makes it) from a Moonshot chat row.

    Built by hand rather than validated one by one: 100,000 records import in seconds so.
    """
    record: dict[str, Any] = {"chat_record_id": chat_record_id}
    for name, value in zip(RECORD_FIELDS, row, strict=True):
        if value is None:
            record[name] = ""
        elif name == "duration" and isinstance(value, (int, float)):
            record[name] = str(float(value))
        else:
            record[name] = value if isinstance(value, str) else str(value)
    if not record["conn_id"]:
        record["conn_id"] = endpoint
    if not record["duration"]:
        record["duration"] = "0.0"
    record["sent_by"] = ""
    return record
