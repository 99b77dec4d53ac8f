"""Changing several settings of a session at once, only at the revision the caller saw."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument

from models import RegistryKind, Session
from models.keys import runner_key
from service.api.context import require_database
from service.api.errors import InvalidInput, NotFound, Stale
from service.api.registries import require_entry
from service.api.schemas import SessionMetadata
from service.api.sessions import metadata_of

# The settings that name a registry entry, and the kind each names.
NAMED_FIELDS = {
    "prompt_template": RegistryKind.PROMPT_TEMPLATE,
    "context_strategy": RegistryKind.CONTEXT_STRATEGY,
    "attack_module": RegistryKind.ATTACK_MODULE,
    "metric": RegistryKind.METRIC,
}


class SessionChanges(BaseModel):
    """The settings to change; fields left out stay as they are, `""` clears a name."""

    model_config = ConfigDict(extra="forbid")

    prompt_template: str | None = None
    context_strategy: str | None = None
    cs_num_of_prev_prompts: Annotated[int, Field(ge=0)] | None = None
    attack_module: str | None = None
    metric: str | None = None
    system_prompt: str | None = None


class RevisedSession(BaseModel):
    """A session's metadata and its revision, which changes with every change to it."""

    metadata: SessionMetadata
    revision: str


def revision_of(document: dict[str, Any]) -> str:
    # The creation time tells a re-created session from the one deleted under the same name.
    return f"{document.get('version', 0)}-{document['created_epoch']}"


def _parse_revision(revision: str) -> tuple[int, str] | None:
    version, _, created_epoch = revision.partition("-")
    if not version.isdigit() or not created_epoch:
        return None
    return int(version), created_epoch


async def get_session_revision(runner_id: str, *, workspace: str) -> RevisedSession:
    require_database()
    document = await Session.get_pymongo_collection().find_one(
        {"_id": runner_key(workspace, runner_id)}
    )
    if document is None:
        raise NotFound(f"Session {runner_id} does not exist.")
    return RevisedSession(metadata=metadata_of(document), revision=revision_of(document))


async def update_session(
    runner_id: str, changes: SessionChanges, *, revision: str | None, workspace: str
) -> RevisedSession:
    """Apply every change in one atomic update, if the session is still at `revision`.

    `revision=None` applies them whatever the revision. Stale when the session changed since.
    """
    fields = changes.model_dump(exclude_none=True)
    if not fields:
        raise InvalidInput("Name at least one setting to change.", field="body")
    for field, kind in NAMED_FIELDS.items():
        if fields.get(field):
            await require_entry(kind, fields[field], field=field, workspace=workspace)
    query: dict[str, Any] = {"_id": runner_key(workspace, runner_id)}
    if revision is not None:
        parsed = _parse_revision(revision)
        if parsed is None:
            await get_session_revision(runner_id, workspace=workspace)
            raise Stale(f"Session {runner_id} is not at revision {revision}.")
        query["version"], query["created_epoch"] = parsed
    document = await Session.get_pymongo_collection().find_one_and_update(
        query,
        {"$set": fields, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        current = await get_session_revision(runner_id, workspace=workspace)
        raise Stale(
            f"Session {runner_id} changed since revision {revision}; "
            f"it is now at {current.revision}."
        )
    return RevisedSession(metadata=metadata_of(document), revision=revision_of(document))
