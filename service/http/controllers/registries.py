"""Registries a session names things from, with Moonshot's routes and shapes."""

from litestar import Controller, get, post
from litestar.params import JSONBody

from models import RegistryKind
from service.api.registries import create_prompt_template, list_entries
from service.api.schemas import RegistryItem
from service.http.deps import Workspace
from service.http.schemas import (
    ContextStrategyOut,
    ModuleMetadataOut,
    PromptTemplateCreate,
    PromptTemplateOut,
)


def _module_metadata(item: RegistryItem) -> ModuleMetadataOut:
    return ModuleMetadataOut(
        id=item.name,
        name=item.name,
        description=item.description,
        endpoints=item.extra.get("endpoints", []),
        configurations=item.extra.get("configurations", {}),
    )


class PromptTemplateController(Controller):
    path = "/api/v1/prompt-templates"
    tags = ["Prompt Templates"]

    @get("/", summary="All prompt templates")
    async def list_prompt_templates(self, workspace: Workspace) -> list[PromptTemplateOut]:
        items = await list_entries(RegistryKind.PROMPT_TEMPLATE, workspace=workspace)
        return [
            PromptTemplateOut(name=item.name, description=item.description, template=item.template)
            for item in items
        ]

    @get("/name", summary="Names of all prompt templates")
    async def list_prompt_template_names(self, workspace: Workspace) -> list[str]:
        items = await list_entries(RegistryKind.PROMPT_TEMPLATE, workspace=workspace)
        return [item.name for item in items]

    @post("/", summary="Add a prompt template (Jinja2, rendered in a sandbox; uses {{ prompt }})")
    async def add_prompt_template(
        self, data: JSONBody[PromptTemplateCreate], workspace: Workspace
    ) -> PromptTemplateOut:
        item = await create_prompt_template(
            data.name, data.description, data.template, workspace=workspace
        )
        return PromptTemplateOut(
            name=item.name, description=item.description, template=item.template
        )


class ContextStrategyController(Controller):
    path = "/api/v1/context-strategies"
    tags = ["Context Strategies"]

    @get("/", summary="All context strategies with their metadata")
    async def list_context_strategies(self, workspace: Workspace) -> list[ContextStrategyOut]:
        items = await list_entries(RegistryKind.CONTEXT_STRATEGY, workspace=workspace)
        return [
            ContextStrategyOut(id=item.name, name=item.name, description=item.description)
            for item in items
        ]

    @get("/name", summary="Names of all context strategies")
    async def list_context_strategy_names(self, workspace: Workspace) -> list[str]:
        items = await list_entries(RegistryKind.CONTEXT_STRATEGY, workspace=workspace)
        return [item.name for item in items]


class AttackModuleController(Controller):
    path = "/api/v1/attack-modules"
    tags = ["Attack Modules"]

    @get("/", summary="Ids of all attack modules")
    async def list_attack_modules(self, workspace: Workspace) -> list[str]:
        items = await list_entries(RegistryKind.ATTACK_MODULE, workspace=workspace)
        return [item.name for item in items]

    @get("/metadata", summary="All attack modules with their metadata")
    async def list_attack_module_metadata(self, workspace: Workspace) -> list[ModuleMetadataOut]:
        items = await list_entries(RegistryKind.ATTACK_MODULE, workspace=workspace)
        return [_module_metadata(item) for item in items]


class MetricController(Controller):
    path = "/api/v1/metrics"
    tags = ["Metrics"]

    @get("/", summary="All metrics with their metadata")
    async def list_metrics(self, workspace: Workspace) -> list[ModuleMetadataOut]:
        items = await list_entries(RegistryKind.METRIC, workspace=workspace)
        return [_module_metadata(item) for item in items]
