"""Writes one Moonshot runner and its session, with its whole chat history, into a workspace.

Whole buckets are inserted in batches, each counter is set once, and the session document is
written last: a session is in the workspace only once all of it is. The runner goes first, so
an import cut short leaves a runner without a session, which the next run recognises (same
name), clears and completes.
"""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

from models import ChatBucket, ChatCounter, Runner, Session
from models.keys import bucket_key, counter_key, runner_key
from service.api.chats import bucket_of
from service.api.context import require_database
from service.api.sessions.checks import check_runner_id
from service.api.sessions.store import delete_owned_data, delete_session_data
from service.moonshot_import.reader import RunnerDatabase, RunnerFile, SessionRow
from service.moonshot_import.report import Progress

# Bucket documents per insert: about 8 MB of the benchmark's 2.4 KB records at 100 a bucket,
# well under a server message's 48 MB.
BUCKETS_PER_INSERT = 32
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
    return Runner(
        id=runner_key(workspace, runner.runner_id),
        workspace=workspace,
        runner_id=runner.runner_id,
        name=runner.name,
        description=runner.description,
        endpoints=list(runner.endpoints),
        created_at=time.time(),
    )


def _session_document(runner: RunnerFile, session: SessionRow, workspace: str) -> Session:
    return Session(
        # By its alias: mypy's pydantic plugin knows a two-base model's fields only so.
        _id=runner_key(workspace, runner.runner_id),
        workspace=workspace,
        session_id=runner.runner_id,
        endpoints=list(session.endpoints),
        created_epoch=session.created_epoch,
        created_datetime=session.created_datetime,
        prompt_template=session.prompt_template,
        context_strategy=session.context_strategy,
        cs_num_of_prev_prompts=session.cs_num_of_prev_prompts,
        attack_module=session.attack_module,
        metric=session.metric,
        system_prompt=session.system_prompt,
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
    bucket_size = require_database().bucket_size
    buckets = ChatBucket.get_pymongo_collection()
    written = 0
    for endpoint in dict.fromkeys(session.endpoints):
        last_id = 0
        batch: list[dict[str, Any]] = []
        for bucket in _buckets(
            workspace, runner_id, endpoint, database.chat_rows(endpoint), bucket_size
        ):
            batch.append(bucket)
            last_id = bucket["records"][-1]["chat_record_id"]
            if len(batch) == BUCKETS_PER_INSERT:
                await _insert(buckets, batch, progress)
                batch = []
        if batch:
            await _insert(buckets, batch, progress)
        if last_id:
            # Set once, to the last id written: the next prompt's record follows on.
            await ChatCounter.get_pymongo_collection().update_one(
                {"_id": counter_key(workspace, runner_id, endpoint)},
                {"$set": {"workspace": workspace, "session_id": runner_id,
                          "endpoint": endpoint, "last_id": last_id}},
                upsert=True,
            )
        written += last_id
    return written


async def _insert(collection: Any, batch: list[dict[str, Any]], progress: Progress) -> None:
    await collection.insert_many(batch, ordered=True)
    progress.advance(sum(len(bucket["records"]) for bucket in batch))


def _buckets(
    workspace: str,
    runner_id: str,
    endpoint: str,
    rows: Iterable[tuple[Any, ...]],
    bucket_size: int,
) -> Iterator[dict[str, Any]]:
    """Whole bucket documents of the rows, in order; ids 1, 2, ... as Sparring hands them out.

    Record `n` lands in bucket `n // bucket_size`, exactly where an append would put it.
    """
    records: list[dict[str, Any]] = []
    bucket_no = 0
    for chat_record_id, row in enumerate(rows, start=1):
        number = bucket_of(chat_record_id, bucket_size)
        if number != bucket_no and records:
            yield _bucket(workspace, runner_id, endpoint, bucket_no, records)
            records = []
        bucket_no = number
        records.append(chat_record(chat_record_id, endpoint, row))
    if records:
        yield _bucket(workspace, runner_id, endpoint, bucket_no, records)


def _bucket(
    workspace: str, runner_id: str, endpoint: str, bucket_no: int, records: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "_id": bucket_key(workspace, runner_id, endpoint, bucket_no),
        "workspace": workspace,
        "session_id": runner_id,
        "endpoint": endpoint,
        "bucket_no": bucket_no,
        "records": records,
    }


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
