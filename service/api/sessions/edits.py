"""Changing a session's settings: Moonshot's one-at-a-time updates, and several at a revision."""

from typing import Any

from pydantic import validate_call

from models import RegistryKind
from models.keys import runner_key
from service.api.context import require_database
from service.api.errors import InvalidInput, NotFound, Stale
from service.api.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_prev_prompts,
    check_session_settings,
    check_system_prompt,
)
from service.api.registries import require_entry
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.checks import check_named_fields
from service.api.sessions.runners import require_runner
from service.api.sessions.schemas import RevisedSession, SessionChanges
from service.api.sessions.store import (
    metadata_of,
    read_session,
    revision_of,
    set_session_fields,
    update_session_document,
)


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


def _parse_revision(revision: str) -> tuple[int, str] | None:
    version, _, created_epoch = revision.partition("-")
    if not version.isdigit() or not created_epoch:
        return None
    return int(version), created_epoch


async def get_session_revision(runner_id: str, *, workspace: str) -> RevisedSession:
    document = await read_session(runner_id, workspace)
    if document is None:
        raise NotFound(f"Session {runner_id} does not exist.")
    return RevisedSession(metadata=metadata_of(document), revision=revision_of(document))


async def update_session(
    runner_id: str,
    changes: SessionChanges,
    *,
    revision: str | None,
    workspace: str,
    limits: Limits = DEFAULT_LIMITS,
) -> RevisedSession:
    """Apply every change in one atomic update, if the session is still at `revision`.

    `revision=None` applies them whatever the revision. Stale when the session changed since.
    """
    require_database()
    fields = changes.model_dump(exclude_none=True)
    if not fields:
        raise InvalidInput("Name at least one setting to change.", field="body")
    check_session_settings(fields, limits)
    await check_named_fields(fields, workspace)
    query: dict[str, Any] = {"_id": runner_key(workspace, runner_id)}
    if revision is not None:
        parsed = _parse_revision(revision)
        if parsed is None:
            await get_session_revision(runner_id, workspace=workspace)
            raise Stale(f"Session {runner_id} is not at revision {revision}.")
        query["version"], query["created_epoch"] = parsed
    document = await update_session_document(query, fields)
    if document is None:
        current = await get_session_revision(runner_id, workspace=workspace)
        raise Stale(
            f"Session {runner_id} changed since revision {revision}; "
            f"it is now at {current.revision}."
        )
    return RevisedSession(metadata=metadata_of(document), revision=revision_of(document))


# The web API's single-setting changes: Moonshot's functions behind the HTTP face's limits.


async def set_system_prompt(
    runner_id: str, system_prompt: str, *, workspace: str, limits: Limits = DEFAULT_LIMITS
) -> bool:
    check_system_prompt(system_prompt, limits)
    return await api_update_system_prompt(runner_id, system_prompt, workspace=workspace)


async def set_prev_prompts_count(
    runner_id: str,
    count: int,
    *,
    workspace: str,
    limits: Limits = DEFAULT_LIMITS,
    field: str = "cs_num_of_prev_prompts",
) -> bool:
    check_prev_prompts(count, limits, field=field)
    return await api_update_cs_num_of_prev_prompts(runner_id, count, workspace=workspace)


async def set_context_strategy(
    runner_id: str,
    context_strategy: str,
    count: int,
    *,
    workspace: str,
    limits: Limits = DEFAULT_LIMITS,
    count_field: str = "num_of_prompt",
) -> bool:
    """The strategy and its number of previous prompts; both are checked before either changes."""
    check_prev_prompts(count, limits, field=count_field)
    await api_update_context_strategy(runner_id, context_strategy, workspace=workspace)
    return await api_update_cs_num_of_prev_prompts(runner_id, count, workspace=workspace)
