"""Registries a session names things from, with Moonshot's routes and shapes.

Every registry lists its entries in one or two shapes (the entries themselves, or just their
names); the routes are made from `REGISTRIES`, each keeping Moonshot's path and its own
handler name (and so its OpenAPI operation id).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from models import RegistryKind
from service.api.limits import check_template_source
from service.api.registries import configure_entry, create_prompt_template, list_entries
from service.api.schemas import RegistryItem
from service.http.deps import Workspace
from service.http.limit_deps import LIMITS_DEPENDENCIES, LimitsDependency
from service.http.schemas import (
    ContextStrategyOut,
    ModuleConfigIn,
    ModuleMetadataOut,
    PromptTemplateCreate,
    PromptTemplateOut,
)


def _reason(item: RegistryItem) -> str | None:
    return None if item.runnable else item.reason


def _module_metadata(item: RegistryItem) -> ModuleMetadataOut:
    return ModuleMetadataOut(
        id=item.name,
        name=item.title or item.name,
        description=item.description,
        endpoints=item.endpoints,
        configurations=item.configurations,
        runnable=item.runnable,
        reason=_reason(item),
    )


def _prompt_template(item: RegistryItem) -> PromptTemplateOut:
    return PromptTemplateOut(
        id=item.name, name=item.name, description=item.description, template=item.template
    )


def _context_strategy(item: RegistryItem) -> ContextStrategyOut:
    return ContextStrategyOut(
        id=item.name,
        name=item.title or item.name,
        description=item.description,
        runnable=item.runnable,
        reason=_reason(item),
    )


def _name(item: RegistryItem) -> str:
    return item.name


@dataclass(frozen=True)
class Listing:
    """One `GET` route listing a registry's entries, each turned into `shape`."""

    path: str
    handler: str
    summary: str
    shape: Callable[[RegistryItem], Any]
    item_type: type


@dataclass(frozen=True)
class Registry:
    controller: str
    path: str
    tag: str
    kind: RegistryKind
    listings: tuple[Listing, ...]


def _names(handler: str, summary: str) -> Listing:
    return Listing("/name", handler, summary, _name, str)


REGISTRIES = (
    Registry(
        "PromptTemplateController",
        "/api/v1/prompt-templates",
        "Prompt Templates",
        RegistryKind.PROMPT_TEMPLATE,
        (
            Listing(
                "/", "list_prompt_templates", "All prompt templates", _prompt_template,
                PromptTemplateOut,
            ),
            _names("list_prompt_template_names", "Names of all prompt templates"),
        ),
    ),
    Registry(
        "ContextStrategyController",
        "/api/v1/context-strategies",
        "Context Strategies",
        RegistryKind.CONTEXT_STRATEGY,
        (
            Listing(
                "/", "list_context_strategies", "All context strategies with their metadata",
                _context_strategy, ContextStrategyOut,
            ),
            _names("list_context_strategy_names", "Names of all context strategies"),
        ),
    ),
    Registry(
        "AttackModuleController",
        "/api/v1/attack-modules",
        "Attack Modules",
        RegistryKind.ATTACK_MODULE,
        (
            Listing("/", "list_attack_modules", "Ids of all attack modules", _name, str),
            Listing(
                "/metadata", "list_attack_module_metadata",
                "All attack modules with their metadata", _module_metadata, ModuleMetadataOut,
            ),
        ),
    ),
    Registry(
        "MetricController",
        "/api/v1/metrics",
        "Metrics",
        RegistryKind.METRIC,
        (
            Listing(
                "/", "list_metrics", "All metrics with their metadata", _module_metadata,
                ModuleMetadataOut,
            ),
        ),
    ),
)


def _listing_route(kind: RegistryKind, listing: Listing) -> HTTPRouteHandler:
    shape = listing.shape

    async def handler(self: Controller, workspace: Workspace) -> list[Any]:
        return [shape(item) for item in await list_entries(kind, workspace=workspace)]

    handler.__name__ = handler.__qualname__ = listing.handler
    # The answer's item type, for the OpenAPI document.
    answer = list[listing.item_type]  # type: ignore[name-defined]
    handler.__annotations__ = {"workspace": Workspace, "return": answer}
    return get(listing.path, summary=listing.summary)(handler)


def registry_controller(registry: Registry, **handlers: HTTPRouteHandler) -> type[Controller]:
    """The controller of one registry: its listings, and any other `handlers` it has."""
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"The {registry.tag.lower()} registry.",
        "path": registry.path,
        "tags": [registry.tag],
        **{
            listing.handler: _listing_route(registry.kind, listing)
            for listing in registry.listings
        },
        **handlers,
    }
    return type(registry.controller, (Controller,), namespace)


@post(
    "/",
    summary="Add a prompt template (Jinja2, rendered in a sandbox; uses {{ prompt }})",
    dependencies=LIMITS_DEPENDENCIES,
)
async def add_prompt_template(
    self: Controller, data: JSONBody[PromptTemplateCreate], workspace: Workspace,
    limits: LimitsDependency,
) -> PromptTemplateOut:
    check_template_source(data.template, limits)
    item = await create_prompt_template(
        data.name, data.description, data.template, workspace=workspace
    )
    return _prompt_template(item)


def _config_route(kind: RegistryKind, handler_name: str, summary: str) -> HTTPRouteHandler:
    """`PUT {registry}/{name}/config`: the workspace's endpoints and configurations for one
    entry (Moonshot's attack_modules_config.json / metrics_config.json entry)."""

    async def handler(
        self: Controller, name: FromPath[str], data: JSONBody[ModuleConfigIn], workspace: Workspace
    ) -> ModuleMetadataOut:
        item = await configure_entry(
            kind,
            name,
            endpoints=data.endpoints,
            configurations=data.configurations,
            workspace=workspace,
        )
        return _module_metadata(item)

    handler.__name__ = handler.__qualname__ = handler_name
    return put("/{name:str}/config", summary=summary)(handler)


_prompt_templates, _context_strategies, _attack_modules, _metrics = REGISTRIES
PromptTemplateController = registry_controller(
    _prompt_templates, add_prompt_template=add_prompt_template
)
ContextStrategyController = registry_controller(_context_strategies)
AttackModuleController = registry_controller(
    _attack_modules,
    configure_attack_module=_config_route(
        RegistryKind.ATTACK_MODULE,
        "configure_attack_module",
        "Set the endpoints and configurations an attack module uses in this workspace",
    ),
)
MetricController = registry_controller(
    _metrics,
    configure_metric=_config_route(
        RegistryKind.METRIC,
        "configure_metric",
        "Set the endpoints and configurations a metric uses in this workspace",
    ),
)
