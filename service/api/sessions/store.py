"""Session documents, read and written by `_id`: the one place that knows how they are kept."""

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from models import (
    AttackRun,
    ChatBucket,
    ChatCounter,
    PromptBatch,
    PromptTask,
    Runner,
    Session,
    SessionEvent,
)
from models.keys import runner_key
from models.sessions import SessionSettings
from service.api.context import require_database
from service.api.sessions.checks import RUNNER_ARG_KEYS
from service.api.sessions.schemas import SessionMetadata
from service.api.transactions import in_transaction

# Newest first; the runner id (unique in a workspace) orders sessions of the same instant, so
# the order is total and a keyset cursor neither repeats nor skips a session.
NEWEST_FIRST = [("created_datetime", -1), ("created_epoch", -1), ("session_id", -1)]
# What places a session in that order: a listing cursor is made of these.
POSITION_FIELDS = tuple(field for field, _ in NEWEST_FIRST)
METADATA_FIELDS = tuple(SessionMetadata.model_fields)
# A listing comes back in one reply: the driver's first batch is 101 documents by default, and
# each further batch costs a round trip (a full listing of 1,000 sessions was two commands).
LISTING_BATCH = 100_000
SETTING_FIELDS = tuple(SessionSettings.model_fields)


def sessions() -> Any:
    """The sessions collection of the initialised database; NoDatabase when there is none."""
    require_database()
    return Session.get_pymongo_collection()


def metadata_of(document: dict[str, Any] | Session) -> SessionMetadata:
    fields = document if isinstance(document, dict) else document.model_dump()
    return SessionMetadata(**{name: fields[name] for name in METADATA_FIELDS if name in fields})


def revision_of(document: dict[str, Any]) -> str:
    # The creation time tells a re-created session from the one deleted under the same name.
    return f"{document.get('version', 0)}-{document['created_epoch']}"


def _projection(fields: tuple[str, ...]) -> dict[str, int]:
    return {"_id": 0, **dict.fromkeys(fields, 1)}


async def find_session(runner_id: str, workspace: str) -> SessionMetadata | None:
    document = await sessions().find_one(
        {"_id": runner_key(workspace, runner_id)}, _projection(METADATA_FIELDS)
    )
    return None if document is None else metadata_of(document)


async def read_session(runner_id: str, workspace: str) -> dict[str, Any] | None:
    """The whole stored document: metadata, the runner's name and description, the revision."""
    return await sessions().find_one({"_id": runner_key(workspace, runner_id)})


@dataclass(frozen=True)
class ListingPosition:
    """Where a session stands in the listing order; a page `after` it starts past it."""

    created_datetime: str
    created_epoch: str
    session_id: str

    @classmethod
    def of(cls, document: dict[str, Any]) -> "ListingPosition":
        return cls(*(str(document[field]) for field in POSITION_FIELDS))

    def precedes(self, document: dict[str, Any]) -> bool:
        """Whether `document` is listed after this position. Strings compare by code point,
        which is the server's order for strings (UTF-8 bytes); epochs of the same second have
        as many digits, so they compare as numbers do."""
        return tuple(str(document[field]) for field in POSITION_FIELDS) < (
            self.created_datetime, self.created_epoch, self.session_id
        )


async def list_session_documents(
    workspace: str,
    *,
    limit: int | None,
    offset: int,
    fields: tuple[str, ...] = METADATA_FIELDS,
    after: ListingPosition | None = None,
) -> list[dict[str, Any]]:
    """The workspace's sessions newest first, by `created_datetime`, `created_epoch`, then
    `session_id`; with `after`, those listed past that position (then `offset` skips more).

    The one listing query; each document carries only `fields`.
    """
    if after is None:
        cursor = sessions().find(
            {"workspace": workspace}, _projection(fields), sort=NEWEST_FIRST, skip=offset,
            limit=limit or 0, batch_size=LISTING_BATCH,
        )
        return [document async for document in cursor]
    return await _list_after(workspace, after, limit=limit, offset=offset, fields=fields)


async def _list_after(
    workspace: str,
    after: ListingPosition,
    *,
    limit: int | None,
    offset: int,
    fields: tuple[str, ...],
) -> list[dict[str, Any]]:
    # A keyset condition on three fields needs an `$or`, which the embedded server can only
    # answer by scanning the whole collection (every workspace). Two index-range queries instead:
    # the rest of the cursor's second (sessions created within one second are few), then the
    # older seconds, the second query only when the first did not fill the page.
    same_second = sessions().find(
        {"workspace": workspace, "created_datetime": after.created_datetime},
        _projection(tuple(dict.fromkeys((*fields, *POSITION_FIELDS)))),
        sort=NEWEST_FIRST,
        batch_size=LISTING_BATCH,
    )
    rest = [
        {field: document[field] for field in fields if field in document}
        async for document in same_second
        if after.precedes(document)
    ]
    page = rest[offset:] if limit is None else rest[offset:offset + limit]
    if limit is not None and len(page) == limit:
        return page
    older = sessions().find(
        {"workspace": workspace, "created_datetime": {"$lt": after.created_datetime}},
        _projection(fields),
        sort=NEWEST_FIRST,
        skip=max(0, offset - len(rest)),
        limit=0 if limit is None else limit - len(page),
        batch_size=LISTING_BATCH,
    )
    return page + [document async for document in older]


def new_session_document(
    runner_id: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    workspace: str,
    *,
    runner_name: str | None = None,
    description: str = "",
) -> Session:
    """A new session with the settings `runner_args` gives; those it leaves out are defaults."""
    created_epoch = time.time()
    settings: dict[str, Any] = {}
    for field in SETTING_FIELDS:
        default = SessionSettings.model_fields[field].default
        value = runner_args.get(RUNNER_ARG_KEYS.get(field, field), default)
        # A name given as None (or "") is no name, as Moonshot stores it.
        settings[field] = (value or default) if isinstance(default, str) else value
    return Session(
        # By its alias: mypy's pydantic plugin knows a two-base model's fields only so.
        _id=runner_key(workspace, runner_id),
        workspace=workspace,
        session_id=runner_id,
        endpoints=list(endpoints),
        created_epoch=str(created_epoch),
        created_datetime=datetime.fromtimestamp(created_epoch).strftime("%Y%m%d-%H%M%S"),
        **settings,
        runner_name=runner_id if runner_name is None else runner_name,
        description=description,
    )


async def set_session_fields(runner_id: str, changes: dict[str, Any], workspace: str) -> bool:
    """One atomic `$set` by `_id`; True whether or not a session was there, as in Moonshot."""
    await sessions().update_one(
        {"_id": runner_key(workspace, runner_id)}, {"$set": changes, "$inc": {"version": 1}}
    )
    return True


async def update_session_document(
    query: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Set `changes` on the session `query` finds (by `_id`) in one update; the new document."""
    return await sessions().find_one_and_update(
        query, {"$set": changes, "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER
    )


# What a session owns besides its document. Prompt tasks hold copies of their chat records, so
# they go with the chats; the event counter stays, so event numbers of a re-created session
# keep growing.
SESSION_OWNED = (PromptTask, PromptBatch, SessionEvent, ChatBucket, ChatCounter, AttackRun)


class _NothingToDelete(Exception):
    """The document a delete is guarded by is not there: the transaction is abandoned."""


async def delete_owned_data(runner_id: str, workspace: str) -> None:
    """Delete what a session owns (chats, prompts, events, counters, runs) but neither session
    nor runner: what an import cut short left on the runner it reuses."""
    require_database()

    async def delete_owned(session: Any) -> None:
        await _delete_owned(runner_id, workspace, session)

    await in_transaction(delete_owned)


async def _delete_owned(runner_id: str, workspace: str, session: Any) -> None:
    scope = {"workspace": workspace, "session_id": runner_id}
    for document in SESSION_OWNED:
        await document.get_pymongo_collection().delete_many(scope, session=session)


async def delete_session_data(
    runner_id: str, workspace: str, *, with_runner: bool = False
) -> bool:
    """Delete chats, prompts, events, counters and session (and runner, `with_runner`).

    False, and nothing deleted, when the guarding document is not there: the runner with
    `with_runner`, else the session. One transaction where the server has them: the guard's
    delete comes first and tells in the same command whether there is anything to do, then one
    delete per owned collection by the session's indexed scope, whatever the history's size (a
    read of the ids first would cost those commands and one more per non-empty collection).
    Without transactions the guard goes last, so a failure part-way leaves something that can
    be deleted again, never chat buckets that belong to nothing.
    """
    database = require_database()
    key = runner_key(workspace, runner_id)
    guard = Runner if with_runner else Session

    async def delete_owned(session: Any) -> None:
        await _delete_owned(runner_id, workspace, session)

    if not database.supports_transactions:
        if await guard.get_pymongo_collection().find_one({"_id": key}, {"_id": 1}) is None:
            return False
        await delete_owned(None)
        await Session.get_pymongo_collection().delete_one({"_id": key})
        if with_runner:
            await Runner.get_pymongo_collection().delete_one({"_id": key})
        return True

    async def delete_all(session: Any) -> None:
        deleted = await guard.get_pymongo_collection().delete_one({"_id": key}, session=session)
        if not deleted.deleted_count:
            raise _NothingToDelete
        await delete_owned(session)
        if with_runner:
            await Session.get_pymongo_collection().delete_one({"_id": key}, session=session)

    try:
        await in_transaction(delete_all)
    except _NothingToDelete:
        return False
    return True
