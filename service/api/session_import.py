"""Sparring's own JSONL export read back into a workspace, idempotently.

The file is read as it arrives and its records are written in whole buckets as they complete,
so an import of any size costs the memory of one batch of buckets. What the import writes goes
in the order the Moonshot import uses (runner, chats, counters, session last), behind a
`SessionImport` document written first and marked complete last: an import that fails is
undone, and one cut short (a crash) is found and finished by the next import of the file.
"""

import json
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import ChatRecord, Runner, Session, SessionImport
from models.keys import SEPARATOR, runner_key
from models.sessions import SessionFields, SessionSettings
from service.api.context import require_database
from service.api.errors import Conflict, InvalidFile
from service.api.exporting import EXPORT_FORMAT_NAME, EXPORT_FORMAT_VERSION
from service.api.sessions.checks import runner_id_for
from service.api.sessions.runners import runner_document
from service.api.sessions.store import delete_owned_data, delete_session_data
from service.moonshot_import.writing import ChatWriter, session_document

# A record is at most a document's 16 MiB; a longer line is not one of ours.
MAX_LINE_BYTES = 16 * 1024 * 1024
# How many names `name-2`, `name-3`, ... are tried when the exported name is taken.
MAX_NAME_TRIES = 1000
# An import renews its hold every RENEW_S while it writes; one not renewed for LEASE_S is
# taken to have died, and the next import of the file finishes it.
RENEW_S = 5.0
LEASE_S = 60.0
IN_PROGRESS = "This export is being imported into the workspace right now; try again later."


@dataclass(frozen=True)
class ImportedSession:
    """Where an export went: the session, its name, the records the file holds, how many this
    import wrote (0 when the file was imported before) and whether this import made it."""

    session_id: str
    name: str
    records: int
    added: int
    created: bool


class ExportedSession(SessionFields):
    """The `session` of an export's header: Moonshot's metadata, the runner's name and
    description."""

    name: str = ""
    description: str = ""


class ExportHeader(BaseModel):
    format: str
    version: int
    session: ExportedSession


async def import_session_export(
    lines: AsyncIterable[bytes], *, workspace: str, user: str
) -> ImportedSession:
    """Read a Sparring JSONL export (`lines`: the file's bytes, in pieces of any size) into the
    workspace as a session under its name, or `name-2`, ... when that name is taken.

    The same export imported again writes nothing and answers the same session. InvalidFile
    names the line and what is wrong with it; nothing of a failed import stays behind.
    """
    require_database()
    reader = _Lines(lines)
    header = await _read_header(reader)
    source = header.session
    key = SEPARATOR.join((workspace, source.session_id, source.created_epoch))
    done = await _finished_import(key, source)
    if done is not None:
        # Read to the end all the same: the answer counts the file's records, and a file that
        # is broken now is refused as it would be the first time.
        records = 0
        async for _ in _records(reader):
            records += 1
        return ImportedSession(done.session_id, done.name, records, 0, created=False)
    lease = await _claim(key, source, workspace, user)
    try:
        name, records, added = await _write(lease, source, reader, workspace)
        await lease.complete()
    except BaseException:
        await lease.undo()
        raise
    return ImportedSession(lease.session_id, name, records, added, created=True)


class _Lease:
    """This import's hold on its `SessionImport`: a token only it knows, renewed as it writes.

    An import whose hold is older than `LEASE_S` is taken to have died (a crash, a killed
    process) and the next import of the file takes over; one that is still writing keeps it,
    and a second import meanwhile is refused rather than let the two write over each other.
    """

    def __init__(self, key: str, session_id: str, workspace: str) -> None:
        self.key = key
        self.session_id = session_id
        self.workspace = workspace
        self.token = uuid.uuid4().hex
        self._renewed = time.monotonic()

    async def take(self, *, fresh: bool, user: str, source: ExportedSession) -> bool:
        """Write a new `SessionImport` (`fresh`) or take over a dead one; False when another
        import holds it."""
        imports = SessionImport.get_pymongo_collection()
        if fresh:
            try:
                await SessionImport(
                    id=self.key, workspace=self.workspace, source_session_id=source.session_id,
                    source_created_epoch=source.created_epoch, session_id=self.session_id,
                    imported_by=user, token=self.token, heartbeat=time.time(),
                ).insert()
            except DuplicateKeyError:
                return False
            return True
        taken = await imports.update_one(
            {"_id": self.key, "complete": False, "heartbeat": {"$lt": time.time() - LEASE_S}},
            {"$set": {"token": self.token, "heartbeat": time.time(), "imported_by": user}},
        )
        return bool(taken.modified_count)

    async def renew(self) -> None:
        """Renew the hold every `RENEW_S` while writing; Conflict when another import took it."""
        if time.monotonic() - self._renewed < RENEW_S:
            return
        self._renewed = time.monotonic()
        await self._mine({"$set": {"heartbeat": time.time()}})

    async def complete(self) -> None:
        await self._mine({"$set": {"complete": True, "heartbeat": time.time()}})

    async def undo(self) -> None:
        """Remove what this import wrote, unless another import has taken it over since."""
        released = await SessionImport.get_pymongo_collection().delete_one(
            {"_id": self.key, "token": self.token}
        )
        if released.deleted_count:
            await delete_session_data(self.session_id, self.workspace, with_runner=True)

    async def _mine(self, update: dict[str, Any]) -> None:
        changed = await SessionImport.get_pymongo_collection().update_one(
            {"_id": self.key, "token": self.token}, update
        )
        if not changed.matched_count:
            raise Conflict(IN_PROGRESS)


@dataclass(frozen=True)
class _Done:
    session_id: str
    name: str


async def _finished_import(key: str, source: ExportedSession) -> _Done | None:
    """The session an earlier import of this export made, if it is still there as it made it.

    A session deleted since, or another one created under its name, does not count: the
    export is imported again (under a new name when its old one is taken).
    """
    imports = SessionImport.get_pymongo_collection()
    earlier = await imports.find_one({"_id": key})
    if earlier is None:
        return None
    if earlier.get("complete"):
        session = await Session.get_pymongo_collection().find_one(
            {"_id": runner_key(earlier["workspace"], earlier["session_id"])},
            {"created_epoch": 1, "runner_name": 1},
        )
        if session is not None and session["created_epoch"] == source.created_epoch:
            return _Done(earlier["session_id"], session.get("runner_name") or "")
        await imports.delete_one({"_id": key, "complete": True})
    return None


async def _claim(key: str, source: ExportedSession, workspace: str, user: str) -> _Lease:
    """This import's lease and its runner: new ones, or those an import cut short left, whose
    chats are cleared to be written again."""
    imports = SessionImport.get_pymongo_collection()
    earlier = await imports.find_one({"_id": key})
    if earlier is not None and not earlier.get("complete"):
        lease = _Lease(key, earlier["session_id"], workspace)
        if not await lease.take(fresh=False, user=user, source=source):
            raise Conflict(IN_PROGRESS)
        runner = await Runner.get_pymongo_collection().find_one(
            {"_id": runner_key(workspace, lease.session_id)}, {"_id": 1}
        )
        if runner is not None:
            await delete_owned_data(lease.session_id, workspace)
            return lease
        await imports.delete_one({"_id": key, "token": lease.token})
    name, runner_id = await _free_name(source, workspace)
    lease = _Lease(key, runner_id, workspace)
    if not await lease.take(fresh=True, user=user, source=source):
        raise Conflict(IN_PROGRESS)
    try:
        await runner_document(
            workspace, runner_id, name, source.description, source.endpoints
        ).insert()
    except DuplicateKeyError as error:
        await imports.delete_one({"_id": key, "token": lease.token})
        raise Conflict(
            f"Runner {runner_id} was created while the export was being imported; try again."
        ) from error
    return lease


async def _free_name(source: ExportedSession, workspace: str) -> tuple[str, str]:
    """The exported name and its runner id, or the first `name-N` whose id is free."""
    base = base_name(source) or source.session_id
    runners = Runner.get_pymongo_collection()
    for number in range(1, MAX_NAME_TRIES + 1):
        name = base if number == 1 else f"{base}-{number}"
        runner_id = runner_id_for(name)
        if await runners.find_one({"_id": runner_key(workspace, runner_id)}, {"_id": 1}) is None:
            return name, runner_id
    raise Conflict(f"Runner names {base!r} to {base!r}-{MAX_NAME_TRIES} are all taken.")


async def _write(
    lease: _Lease, source: ExportedSession, reader: "_Lines", workspace: str
) -> tuple[str, int, int]:
    """The chats, their counters, then the session; (name, records read, records written)."""
    runner_id = lease.session_id
    runner = await Runner.get_pymongo_collection().find_one(
        {"_id": runner_key(workspace, runner_id)}, {"name": 1}
    )
    name = runner["name"] if runner is not None else runner_id
    writer = ChatWriter(workspace, runner_id, require_database().bucket_size)
    endpoints = list(dict.fromkeys(source.endpoints))
    records = 0
    async for record in _records(reader):
        if record["conn_id"] not in endpoints:
            # Records are history: an endpoint they name stays one of the session's.
            endpoints.append(record["conn_id"])
        await writer.add(record)
        records += 1
        await lease.renew()
    added = await writer.finish()
    session = session_document(
        workspace,
        runner_id,
        endpoints=endpoints,
        created_epoch=source.created_epoch,
        created_datetime=source.created_datetime,
        settings=SessionSettings.model_validate(source.model_dump()),
        runner_name=name,
        description=source.description,
    )
    try:
        await session.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"Session {runner_id} was created during the import.") from error
    return name, records, added


class _Lines:
    """The lines of a body arriving in pieces, each with its number; the last may lack "\\n"."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._lines = self._split(chunks)
        self.number = 0

    async def _split(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        pending = bytearray()
        async for chunk in chunks:
            pending += chunk
            start = 0
            while (end := pending.find(b"\n", start)) != -1:
                yield bytes(pending[start:end])
                start = end + 1
            del pending[:start]
            if len(pending) > MAX_LINE_BYTES:
                raise InvalidFile(
                    f"Line {self.number + 1} is longer than {MAX_LINE_BYTES} bytes: not a line "
                    "of a Sparring export."
                )
        if pending:
            yield bytes(pending)

    async def next(self) -> tuple[int, Any] | None:
        """The next non-blank line as (its number, its JSON value); None at the end."""
        async for line in self._lines:
            self.number += 1
            if line.strip():
                return self.number, _parse(self.number, line)
        return None


def _parse(number: int, line: bytes) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise InvalidFile(
            f"Line {number} is not JSON: {error.msg} (column {error.colno})."
        ) from error
    except UnicodeDecodeError as error:
        raise InvalidFile(f"Line {number} is not UTF-8 text: {error.reason}.") from error


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def base_name(source: ExportedSession) -> str | None:
    """The name the session is imported under (before `-2`, ...): the runner's name, else the
    session id, whichever gives an id; None when neither does."""
    for name in (source.name, source.session_id):
        if slugify(name, lowercase=True):
            return name
    return None


async def _read_header(reader: _Lines) -> ExportHeader:
    line = await reader.next()
    if line is None:
        raise InvalidFile("The file is empty: a Sparring export starts with its header line.")
    number, value = line
    if not isinstance(value, dict):
        raise InvalidFile(f"Line {number} must be the export's header, a JSON object.")
    if "format" not in value:
        if "chat_record_id" in value:
            raise InvalidFile(
                f"Line {number} is a chat record before the header: a Sparring export starts "
                "with its header line."
            )
        raise InvalidFile(f"Line {number} is not a Sparring export's header (no \"format\").")
    if value["format"] != EXPORT_FORMAT_NAME:
        raise InvalidFile(
            f"Line {number}: format {value['format']!r} is not {EXPORT_FORMAT_NAME!r}."
        )
    if value.get("version") != EXPORT_FORMAT_VERSION:
        raise InvalidFile(
            f"Line {number}: export version {value.get('version')!r} is not supported (this "
            f"Sparring reads version {EXPORT_FORMAT_VERSION})."
        )
    try:
        header = ExportHeader.model_validate(value)
    except ValidationError as error:
        raise InvalidFile(f"Line {number}: {_problem(error)}") from error
    if base_name(header.session) is None:
        raise InvalidFile(
            f"Line {number}: session.name: neither the name nor the session id has letters or "
            "digits to make a runner id from."
        )
    return header


async def _records(reader: _Lines) -> AsyncIterator[dict[str, Any]]:
    """Each record as stored (`ChatRecord.document()`), checked; ids rise per endpoint."""
    last_ids: dict[str, int] = {}
    while (line := await reader.next()) is not None:
        number, value = line
        if not isinstance(value, dict):
            raise InvalidFile(f"Line {number} must be a chat record, a JSON object.")
        try:
            record = ChatRecord.model_validate(value)
        except ValidationError as error:
            raise InvalidFile(f"Line {number}: {_problem(error)}") from error
        if not record.conn_id:
            raise InvalidFile(f"Line {number}: conn_id: the endpoint id must not be empty.")
        previous = last_ids.get(record.conn_id, 0)
        if record.chat_record_id <= previous:
            raise InvalidFile(
                f"Line {number}: chat_record_id {record.chat_record_id} does not follow "
                f"{previous}, the previous record of endpoint {record.conn_id!r}: records of an "
                "endpoint come in increasing id order."
            )
        last_ids[record.conn_id] = record.chat_record_id
        yield record.document()
