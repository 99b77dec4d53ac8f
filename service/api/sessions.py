"""Moonshot's Session API (0.7.6), async, on Beanie documents and scoped to a workspace."""

import time
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, validate_call
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import (
    ChatBucket,
    ChatCounter,
    PromptBatch,
    PromptTask,
    RegistryKind,
    Runner,
    Session,
    SessionEvent,
)
from models.keys import runner_key
from service.api.chats import iter_chat_records
from service.api.context import require_database, resolve_database
from service.api.errors import (
    EMPTY_RUNNER_ID,
    INVALID_RUNNER_ID,
    RUNNER_NOT_FOUND,
    SESSION_METADATA_NOT_FOUND,
    NotFound,
    RejectedArgument,
)
from service.api.paging import MAX_LIMIT
from service.api.registries import require_entry
from service.api.schemas import (
    DEFAULT_CS_NUM_OF_PREV_PROMPTS,
    DEFAULT_WORKSPACE,
    RunnerSession,
    SessionMetadata,
)
from service.api.transactions import in_transaction

Limit = Annotated[int | None, Field(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Field(ge=0)]

# The runner_args keys that name a registry entry, the kind each names, and the session field.
NAMED_SETTINGS = (
    ("prompt_template", RegistryKind.PROMPT_TEMPLATE, "prompt_template"),
    ("context_strategy", RegistryKind.CONTEXT_STRATEGY, "context_strategy"),
    ("attack_module", RegistryKind.ATTACK_MODULE, "attack_module"),
    ("metric_id", RegistryKind.METRIC, "metric"),
)
NEWEST_FIRST = [("created_datetime", -1), ("created_epoch", -1)]
METADATA_FIELDS = tuple(SessionMetadata.model_fields)


def check_runner_id(runner_id: str) -> None:
    """Moonshot's rule: a runner id is not empty and is its own lowercase slug."""
    if not runner_id:
        raise RejectedArgument(EMPTY_RUNNER_ID, field="runner_id")
    if slugify(runner_id, lowercase=True) != runner_id:
        raise RejectedArgument(INVALID_RUNNER_ID, field="runner_id")


async def require_runner(runner_id: str, workspace: str) -> Runner:
    require_database()
    runner = await Runner.get(runner_key(workspace, runner_id))
    if runner is None:
        raise NotFound(RUNNER_NOT_FOUND)
    return runner


def metadata_of(document: dict[str, Any] | Session) -> SessionMetadata:
    fields = document if isinstance(document, dict) else document.model_dump()
    return SessionMetadata(**{name: fields[name] for name in METADATA_FIELDS if name in fields})


def _metadata_projection() -> dict[str, int]:
    return {"_id": 0, **{name: 1 for name in METADATA_FIELDS}}


async def find_session(runner_id: str, workspace: str) -> SessionMetadata | None:
    document = await Session.get_pymongo_collection().find_one(
        {"_id": runner_key(workspace, runner_id)}, _metadata_projection()
    )
    return None if document is None else metadata_of(document)


async def check_named_settings(runner_args: dict[str, Any], workspace: str) -> None:
    for argument, kind, _ in NAMED_SETTINGS:
        name = runner_args.get(argument, "")
        if name:
            await require_entry(kind, str(name), field=argument, workspace=workspace)


def new_session_document(
    runner_id: str,
    endpoints: list[str],
    runner_args: dict[str, Any],
    workspace: str,
    *,
    runner_name: str | None = None,
    description: str = "",
) -> Session:
    created_epoch = time.time()
    return Session(
        id=runner_key(workspace, runner_id),
        workspace=workspace,
        session_id=runner_id,
        endpoints=list(endpoints),
        created_epoch=str(created_epoch),
        created_datetime=datetime.fromtimestamp(created_epoch).strftime("%Y%m%d-%H%M%S"),
        prompt_template=runner_args.get("prompt_template", "") or "",
        context_strategy=runner_args.get("context_strategy", "") or "",
        cs_num_of_prev_prompts=runner_args.get(
            "cs_num_of_prev_prompts", DEFAULT_CS_NUM_OF_PREV_PROMPTS
        ),
        attack_module=runner_args.get("attack_module", "") or "",
        metric=runner_args.get("metric_id", "") or "",
        system_prompt=runner_args.get("system_prompt", "") or "",
        runner_name=runner_id if runner_name is None else runner_name,
        description=description,
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
async def api_get_all_session_names(
    *, workspace: str = DEFAULT_WORKSPACE, limit: Limit = None, offset: Offset = 0
) -> list[str]:
    """Runner ids that have a session, newest first."""
    require_database()
    cursor = Session.get_pymongo_collection().find(
        {"workspace": workspace}, {"_id": 0, "session_id": 1}, sort=NEWEST_FIRST, skip=offset,
        limit=limit or 0,
    )
    return [document["session_id"] async for document in cursor]


@validate_call
async def api_get_all_session_metadata(
    *, workspace: str = DEFAULT_WORKSPACE, limit: Limit = None, offset: Offset = 0
) -> list[dict]:
    """Every session's metadata, newest first by `created_datetime`, then `created_epoch`."""
    require_database()
    cursor = Session.get_pymongo_collection().find(
        {"workspace": workspace}, _metadata_projection(), sort=NEWEST_FIRST, skip=offset,
        limit=limit or 0,
    )
    return [metadata_of(document).to_dict() async for document in cursor]


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


async def set_session_fields(runner_id: str, changes: dict[str, Any], workspace: str) -> bool:
    """One atomic `$set` by `_id`; True whether or not a session was there, as in Moonshot."""
    await Session.get_pymongo_collection().update_one(
        {"_id": runner_key(workspace, runner_id)}, {"$set": changes, "$inc": {"version": 1}}
    )
    return True


async def _update_named_setting(
    runner_id: str, kind: RegistryKind, field: str, name: str, workspace: str
) -> bool:
    await require_runner(runner_id, workspace)
    await require_entry(kind, name, field=field, workspace=workspace)
    return await set_session_fields(runner_id, {field: name}, workspace)


@validate_call
async def api_update_prompt_template(
    runner_id: str, prompt_template: str, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    return await _update_named_setting(
        runner_id, RegistryKind.PROMPT_TEMPLATE, "prompt_template", prompt_template, workspace
    )


@validate_call
async def api_update_context_strategy(
    runner_id: str, context_strategy: str, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    return await _update_named_setting(
        runner_id, RegistryKind.CONTEXT_STRATEGY, "context_strategy", context_strategy, workspace
    )


@validate_call
async def api_update_attack_module(
    runner_id: str, attack_module_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    return await _update_named_setting(
        runner_id, RegistryKind.ATTACK_MODULE, "attack_module", attack_module_id, workspace
    )


@validate_call
async def api_update_metric(
    runner_id: str, metric_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    return await _update_named_setting(
        runner_id, RegistryKind.METRIC, "metric", metric_id, workspace
    )


@validate_call
async def api_update_cs_num_of_prev_prompts(
    runner_id: str, num_of_prev_prompts: int, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    await require_runner(runner_id, workspace)
    return await set_session_fields(
        runner_id, {"cs_num_of_prev_prompts": num_of_prev_prompts}, workspace
    )


@validate_call
async def api_update_system_prompt(
    runner_id: str, system_prompt: str, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    await require_runner(runner_id, workspace)
    return await set_session_fields(runner_id, {"system_prompt": system_prompt}, workspace)


@validate_call
async def api_delete_session(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> bool:
    """Remove the session and all its chats; the runner stays, as in Moonshot."""
    await require_runner(runner_id, workspace)
    if await find_session(runner_id, workspace) is None:
        raise NotFound(SESSION_METADATA_NOT_FOUND)
    await delete_session_data(runner_id, workspace)
    return True


async def delete_session_data(
    runner_id: str, workspace: str, *, with_runner: bool = False
) -> None:
    """Delete chats, counters and session (and runner), atomically where the server can.

    Without transactions, chats go first and the session last: a failure part-way leaves a
    session that can be deleted again, never chat buckets that belong to nothing.
    """
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
