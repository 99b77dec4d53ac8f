"""A session's settings, one route each, as Moonshot's web API sets and clears them.

Every route first needs the session to exist (`existing_session`, else 404): the Session API
functions themselves answer True for a deleted session, as Moonshot's do.

The routes that set a named thing (`NAMED_SETTINGS`) and those that clear a setting
(`CLEARS`) differ only in what they call, so they are made from those tables, each keeping its
path and its handler name (and so its OpenAPI operation id).
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Controller, delete, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from service.api import (
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
)
from service.api.sessions.edits import set_context_strategy, set_system_prompt
from service.http.deps import ExistingSession, Workspace
from service.http.limit_deps import LIMITS_DEPENDENCIES, LimitsDependency
from service.http.params import PrevPromptsInPath, RunnerId
from service.http.schemas import Success, SystemPromptUpdate

Update = Callable[..., Awaitable[bool]]


@dataclass(frozen=True)
class NamedSetting:
    """A setting naming a registry entry: `PUT` names one, `DELETE` clears it."""

    parameter: str
    update: Update
    setter: str
    set_summary: str
    clearer: str
    clear_summary: str

    @property
    def segment(self) -> str:
        # The path segment Moonshot uses: prompt_template_name -> prompt-template.
        return self.setter.removeprefix("set_").replace("_", "-")

    @property
    def path(self) -> str:
        return f"/{self.segment}/{{{self.parameter}:str}}"


@dataclass(frozen=True)
class Clear:
    """A `DELETE` route that sets each `(update, value)` in turn."""

    path: str
    handler: str
    summary: str
    changes: tuple[tuple[Update, Any], ...]


NAMED_SETTINGS = (
    NamedSetting(
        "prompt_template_name", api_update_prompt_template,
        "set_prompt_template", "Use a prompt template",
        "clear_prompt_template", "Stop using a prompt template",
    ),
    NamedSetting(
        "atk_module_name", api_update_attack_module,
        "set_attack_module", "Use an attack module",
        "clear_attack_module", "Stop using an attack module",
    ),
    NamedSetting(
        "metric_name", api_update_metric,
        "set_metric", "Use a metric",
        "clear_metric", "Stop using a metric",
    ),
)
CONTEXT_STRATEGY_PATH = "/context-strategy/{ctx_strategy_name:str}/{num_of_prompt:str}"
CLEARS = (
    *(
        Clear(setting.path, setting.clearer, setting.clear_summary, ((setting.update, ""),))
        for setting in NAMED_SETTINGS
    ),
    Clear(
        CONTEXT_STRATEGY_PATH,
        "clear_context_strategy",
        "Stop using a context strategy; the number of previous prompts becomes 0",
        ((api_update_context_strategy, ""), (api_update_cs_num_of_prev_prompts, 0)),
    ),
    Clear(
        "/system-prompt", "clear_system_prompt", "Clear the system prompt",
        ((api_update_system_prompt, ""),),
    ),
)


def _named(handler: Callable[..., Any], name: str) -> None:
    handler.__name__ = handler.__qualname__ = name


def _set_route(setting: NamedSetting) -> HTTPRouteHandler:
    update, parameter = setting.update, setting.parameter

    async def handler(
        self: Controller,
        runner_id: RunnerId,
        workspace: Workspace,
        existing_session: ExistingSession,
        **path: str,
    ) -> Success:
        await update(runner_id, path[parameter], workspace=workspace)
        return Success()

    # Litestar reads the parameters from the signature: the name's is the setting's own.
    annotations = {
        "runner_id": RunnerId,
        parameter: FromPath[str],
        "workspace": Workspace,
        "existing_session": ExistingSession,
    }
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(
                inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hint)
                for name, hint in annotations.items()
            ),
        ],
        return_annotation=Success,
    )
    handler.__annotations__ = {**annotations, "return": Success}
    _named(handler, setting.setter)
    return put(setting.path, summary=setting.set_summary)(handler)


def _clear_route(clear: Clear) -> HTTPRouteHandler:
    changes = clear.changes

    async def handler(
        self: Controller, runner_id: RunnerId, workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        for update, value in changes:
            await update(runner_id, value, workspace=workspace)
        return Success()

    _named(handler, clear.handler)
    return delete(clear.path, status_code=200, summary=clear.summary)(handler)


class SessionSettingsController(Controller):
    path = "/api/v1/sessions/{runner_id:str}"
    tags = ["Sessions"]
    dependencies = LIMITS_DEPENDENCIES

    # The count is typed in the handler, not the path, so that "abc" is a 422 naming it.
    @put(
        CONTEXT_STRATEGY_PATH,
        summary="Use a context strategy over that many previous prompts",
    )
    async def set_context_strategy(
        self,
        runner_id: RunnerId,
        ctx_strategy_name: FromPath[str],
        num_of_prompt: PrevPromptsInPath,
        workspace: Workspace,
        existing_session: ExistingSession,
        limits: LimitsDependency,
    ) -> Success:
        # The count and then the strategy are checked first, so a refused one changes nothing.
        await set_context_strategy(
            runner_id, ctx_strategy_name, num_of_prompt, workspace=workspace, limits=limits
        )
        return Success()

    @put("/system-prompt", summary="Set the system prompt")
    async def set_system_prompt(
        self,
        runner_id: RunnerId,
        data: JSONBody[SystemPromptUpdate],
        workspace: Workspace,
        existing_session: ExistingSession,
        limits: LimitsDependency,
    ) -> Success:
        await set_system_prompt(runner_id, data.system_prompt, workspace=workspace, limits=limits)
        return Success()


for _route in (*map(_set_route, NAMED_SETTINGS), *map(_clear_route, CLEARS)):
    setattr(SessionSettingsController, _route.handler_name, _route)
del _route
