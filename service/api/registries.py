"""Registries of named things: built-ins from the catalogue plus what a workspace adds."""

import copy
import json
import time
from typing import Any

from pymongo.errors import DuplicateKeyError

from models import RegistryConfig, RegistryEntry, RegistryKind
from models.keys import registry_key
from service.api.context import require_database
from service.api.endpoints import require_endpoints
from service.api.errors import Conflict, InvalidInput, NotFound, UnknownName
from service.api.filters import where
from service.api.schemas import DEFAULT_WORKSPACE, RegistryItem
from service.redteam.catalogue import CatalogueEntry, built_in, built_ins_of
from service.redteam.templates import TemplateError, check_template

# How Moonshot names each kind in its "does not exist" messages.
KIND_LABELS = {
    RegistryKind.PROMPT_TEMPLATE: "Prompt Template",
    RegistryKind.CONTEXT_STRATEGY: "Context Strategy",
    RegistryKind.ATTACK_MODULE: "Attack Module",
    RegistryKind.METRIC: "Metric",
}
# The kinds Moonshot keeps endpoints and configurations for (attack_modules_config.json,
# metrics_config.json).
CONFIGURABLE = (RegistryKind.ATTACK_MODULE, RegistryKind.METRIC)
# Bounds of what a workspace may set on one entry: a module calls a judge or an attacker or
# two, and its settings are a handful of numbers and names.
MAX_ENTRY_ENDPOINTS = 32
MAX_CONFIGURATION_BYTES = 16_384


async def find_entry(
    kind: RegistryKind, name: str, *, workspace: str = DEFAULT_WORKSPACE
) -> RegistryItem | None:
    entry = built_in(kind, name)
    if entry is not None:
        item = _built_in_item(entry)
    else:
        require_database()
        document = await RegistryEntry.get(registry_key(workspace, kind.value, name))
        if document is None:
            return None
        item = _item(document)
    if kind in CONFIGURABLE:
        require_database()
        config = await RegistryConfig.get(registry_key(workspace, kind.value, name))
        if config is not None:
            _apply(item, config)
    return item


async def require_entry(
    kind: RegistryKind, name: str, *, field: str, workspace: str = DEFAULT_WORKSPACE
) -> None:
    """Raise Moonshot's "<Kind> <name> does not exist." unless `name` is empty or known."""
    if name and not await _exists(kind, name, workspace):
        raise UnknownName(f"[Session] {KIND_LABELS[kind]} {name} does not exist.", field=field)


async def _exists(kind: RegistryKind, name: str, workspace: str) -> bool:
    """Whether the workspace knows the name; unlike `find_entry`, no settings are read."""
    if built_in(kind, name) is not None:
        return True
    require_database()
    return await RegistryEntry.get(registry_key(workspace, kind.value, name)) is not None


async def list_entries(
    kind: RegistryKind, *, workspace: str = DEFAULT_WORKSPACE
) -> list[RegistryItem]:
    """Built-ins first, then the workspace's own entries by name, each with the workspace's
    endpoints and configurations where it set them."""
    require_database()
    items = [_built_in_item(entry) for entry in built_ins_of(kind)]
    documents = RegistryEntry.find(
        where(RegistryEntry.workspace == workspace, RegistryEntry.kind == kind)
    ).sort("+name")
    items.extend([_item(document) async for document in documents])
    if kind in CONFIGURABLE:
        configs = RegistryConfig.find(
            where(RegistryConfig.workspace == workspace, RegistryConfig.kind == kind)
        )
        by_name = {config.name: config async for config in configs}
        for item in items:
            config = by_name.get(item.name)
            if config is not None:
                _apply(item, config)
    return items


async def configure_entry(
    kind: RegistryKind | str,
    name: str,
    *,
    endpoints: list[str] | None = None,
    configurations: dict[str, Any] | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> RegistryItem:
    """Set the endpoints and/or configurations an attack module or metric uses in `workspace`.

    `None` keeps what is set (or the entry's default); a value replaces it. Every endpoint must
    exist in the workspace. Returns the entry as the workspace now sees it.
    """
    kind = _configurable_kind(kind)
    changes: dict[str, Any] = {}
    if endpoints is not None:
        changes["endpoints"] = _checked_endpoints(endpoints)
    if configurations is not None:
        changes["configurations_json"] = _configuration_text(configurations)
    if not changes:
        raise InvalidInput("Give endpoints, configurations or both.")
    if not await _exists(kind, name, workspace):
        raise NotFound(f"{KIND_LABELS[kind]} {name} does not exist.")
    require_database()
    if "endpoints" in changes:
        await require_endpoints(changes["endpoints"], workspace=workspace)
    # One upsert by `_id`: two editors setting different fields both keep theirs.
    query = {"_id": registry_key(workspace, kind.value, name)}
    update = {
        "$set": {**changes, "updated_at": time.time()},
        "$setOnInsert": {"workspace": workspace, "kind": kind.value, "name": name},
    }
    collection = RegistryConfig.get_pymongo_collection()
    try:
        await collection.update_one(query, update, upsert=True)
    except DuplicateKeyError:
        # Two first upserts raced and the other inserted: it exists now, so this one updates.
        await collection.update_one(query, update, upsert=True)
    item = await find_entry(kind, name, workspace=workspace)
    if item is None:
        raise NotFound(f"{KIND_LABELS[kind]} {name} does not exist.")
    return item


def _configurable_kind(kind: RegistryKind | str) -> RegistryKind:
    for configurable in CONFIGURABLE:
        if kind == configurable.value:
            return configurable
    raise InvalidInput(
        f"Only attack modules and metrics take endpoints and configurations, not {kind!s}.",
        field="kind",
    )


def _checked_endpoints(endpoints: Any) -> list[str]:
    if not isinstance(endpoints, list) or not all(
        isinstance(endpoint, str) and endpoint for endpoint in endpoints
    ):
        raise InvalidInput("endpoints must be a list of endpoint ids.", field="endpoints")
    unique = list(dict.fromkeys(endpoints))
    if len(unique) > MAX_ENTRY_ENDPOINTS:
        raise InvalidInput(
            f"endpoints may name at most {MAX_ENTRY_ENDPOINTS} endpoints.", field="endpoints"
        )
    return unique


def _configuration_text(configurations: Any) -> str:
    if not isinstance(configurations, dict):
        raise InvalidInput("configurations must be a JSON object.", field="configurations")
    try:
        text = json.dumps(configurations, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInput(
            "configurations must hold JSON values only (objects, arrays, strings, finite "
            "numbers, booleans, null).",
            field="configurations",
        ) from error
    if len(text.encode()) > MAX_CONFIGURATION_BYTES:
        raise InvalidInput(
            f"configurations must be at most {MAX_CONFIGURATION_BYTES} bytes as JSON.",
            field="configurations",
        )
    return text


def _apply(item: RegistryItem, config: RegistryConfig) -> None:
    if config.endpoints is not None:
        item.endpoints = list(config.endpoints)
    if config.configurations_json is not None:
        item.configurations = json.loads(config.configurations_json)


def _built_in_item(entry: CatalogueEntry) -> RegistryItem:
    return RegistryItem(
        kind=entry.kind,
        name=entry.name,
        description=entry.description,
        title=entry.display_name,
        template=entry.template,
        built_in=True,
        endpoints=list(entry.endpoints),
        # A copy: the catalogue's defaults are shared by every caller.
        configurations=copy.deepcopy(dict(entry.configurations)),
        runnable=entry.runnable,
        reason=entry.reason,
    )


async def create_prompt_template(
    name: str, description: str, template: str, *, workspace: str = DEFAULT_WORKSPACE
) -> RegistryItem:
    """Add a prompt template to the workspace; its Jinja2 source must compile in the sandbox."""
    if not name.strip():
        raise InvalidInput("name must not be empty.", field="name")
    try:
        await check_template(template)
    except TemplateError as error:
        raise InvalidInput(str(error), field="template") from error
    kind = RegistryKind.PROMPT_TEMPLATE
    if built_in(kind, name) is not None:
        raise Conflict(f"Prompt template {name} already exists.")
    require_database()
    document = RegistryEntry(
        id=registry_key(workspace, kind.value, name),
        workspace=workspace,
        kind=kind,
        name=name,
        description=description,
        template=template,
        created_at=time.time(),
    )
    try:
        await document.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"Prompt template {name} already exists.") from error
    return _item(document)


def _item(document: RegistryEntry) -> RegistryItem:
    """A workspace's own entry; only prompt templates can be added, and those always run."""
    return RegistryItem(
        kind=document.kind,
        name=document.name,
        description=document.description,
        title=document.name,
        template=document.template,
        built_in=False,
    )
