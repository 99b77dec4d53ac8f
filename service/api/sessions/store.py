"""Session documents, read and written by `_id`: the one place that knows how they are kept."""

import time
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from models import ChatBucket, ChatCounter, PromptBatch, PromptTask, Runner, Session, SessionEvent
from models.keys import runner_key
from models.sessions import SessionSettings
from service.api.context import require_database
from service.api.sessions.checks import RUNNER_ARG_KEYS
from service.api.sessions.schemas import SessionMetadata
from service.api.transactions import in_transaction

NEWEST_FIRST = [("created_datetime", -1), ("created_epoch", -1)]
METADATA_FIELDS = tuple(SessionMetadata.model_fields)
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


async def list_session_documents(
    workspace: str,
    *,
    limit: int | None,
    offset: int,
    fields: tuple[str, ...] = METADATA_FIELDS,
) -> list[dict[str, Any]]:
    """The workspace's sessions newest first, by `created_datetime` then `created_epoch`.

    The one listing query; each document carries only `fields`.
    """
    cursor = sessions().find(
        {"workspace": workspace}, _projection(fields), sort=NEWEST_FIRST, skip=offset,
        limit=limit or 0,
    )
    return [document async for document in cursor]


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


async def delete_session_data(
    runner_id: str, workspace: str, *, with_runner: bool = False
) -> None:
    """Delete chats, counters and session (and runner), atomically where the server can.

    Without transactions, chats go first and the session last: a failure part-way leaves a
    session that can be deleted again, never chat buckets that belong to nothing.
    """
    require_database()
    scope = {"workspace": workspace, "session_id": runner_id}
    # Prompt tasks hold copies of their chat records, so they go with the chats; the event
    # counter stays, so event numbers of a re-created session keep growing.
    chat_documents = (PromptTask, PromptBatch, SessionEvent, ChatBucket, ChatCounter)
    # Reads by indexed equality use the index; the deletes are then addressed by `_id`.
    doomed = {
        document: [
            found["_id"]
            async for found in document.get_pymongo_collection().find(scope, {"_id": 1})
        ]
        for document in chat_documents
    }
    key = runner_key(workspace, runner_id)

    async def delete_all(session: Any) -> None:
        for document, ids in doomed.items():
            if ids:
                await document.get_pymongo_collection().delete_many(
                    {"_id": {"$in": ids}}, session=session
                )
        await Session.get_pymongo_collection().delete_one({"_id": key}, session=session)
        if with_runner:
            await Runner.get_pymongo_collection().delete_one({"_id": key}, session=session)

    await in_transaction(delete_all)
