"""Registries of named things: built-ins from the catalogue plus what a workspace adds."""

import time

from pymongo.errors import DuplicateKeyError

from models import RegistryEntry, RegistryKind
from models.keys import registry_key
from service.api.context import require_database
from service.api.errors import Conflict, InvalidInput, RejectedArgument
from service.api.schemas import DEFAULT_WORKSPACE, RegistryItem
from service.redteam.catalogue import built_in, built_ins_of
from service.redteam.templates import TemplateError, check_template

# How Moonshot names each kind in its "does not exist" messages.
KIND_LABELS = {
    RegistryKind.PROMPT_TEMPLATE: "Prompt Template",
    RegistryKind.CONTEXT_STRATEGY: "Context Strategy",
    RegistryKind.ATTACK_MODULE: "Attack Module",
    RegistryKind.METRIC: "Metric",
}


async def find_entry(
    kind: RegistryKind, name: str, *, workspace: str = DEFAULT_WORKSPACE
) -> RegistryItem | None:
    entry = built_in(kind, name)
    if entry is not None:
        return RegistryItem(
            kind=kind, name=entry.name, description=entry.description, template=entry.template,
            built_in=True, extra=dict(entry.extra),
        )
    require_database()
    document = await RegistryEntry.get(registry_key(workspace, kind.value, name))
    return None if document is None else _item(document)


async def require_entry(
    kind: RegistryKind, name: str, *, field: str, workspace: str = DEFAULT_WORKSPACE
) -> None:
    """Raise Moonshot's "<Kind> <name> does not exist." unless `name` is empty or known."""
    if name and await find_entry(kind, name, workspace=workspace) is None:
        raise RejectedArgument(f"[Session] {KIND_LABELS[kind]} {name} does not exist.", field=field)


async def list_entries(
    kind: RegistryKind, *, workspace: str = DEFAULT_WORKSPACE
) -> list[RegistryItem]:
    """Built-ins first, then the workspace's own entries by name."""
    require_database()
    items = [
        RegistryItem(
            kind=kind, name=entry.name, description=entry.description, template=entry.template,
            built_in=True, extra=dict(entry.extra),
        )
        for entry in built_ins_of(kind)
    ]
    documents = RegistryEntry.find(
        RegistryEntry.workspace == workspace, RegistryEntry.kind == kind
    ).sort("+name")
    items.extend([_item(document) async for document in documents])
    return items


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
    return RegistryItem(
        kind=document.kind,
        name=document.name,
        description=document.description,
        template=document.template,
        built_in=False,
    )
