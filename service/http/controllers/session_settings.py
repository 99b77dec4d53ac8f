"""A session's settings, one route each, as Moonshot's web API sets and clears them.

Every route first needs the session to exist (`existing_session`, else 404): the Session API
functions themselves answer True for a deleted session, as Moonshot's do.
"""

from litestar import Controller, delete, put
from litestar.params import FromPath, JSONBody

from service.api import (
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
)
from service.http.deps import ExistingSession, Workspace
from service.http.params import PrevPromptsInPath, RunnerId
from service.http.schemas import Success, SystemPromptUpdate


class SessionSettingsController(Controller):
    path = "/api/v1/sessions/{runner_id:str}"
    tags = ["Sessions"]

    @put("/prompt-template/{prompt_template_name:str}", summary="Use a prompt template")
    async def set_prompt_template(
        self,
        runner_id: RunnerId,
        prompt_template_name: FromPath[str],
        workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        await api_update_prompt_template(runner_id, prompt_template_name, workspace=workspace)
        return Success()

    @delete(
        "/prompt-template/{prompt_template_name:str}",
        status_code=200,
        summary="Stop using a prompt template",
    )
    async def clear_prompt_template(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> Success:
        await api_update_prompt_template(runner_id, "", workspace=workspace)
        return Success()

    # The count is typed in the handler, not the path, so that "abc" is a 422 naming it.
    @put(
        "/context-strategy/{ctx_strategy_name:str}/{num_of_prompt:str}",
        summary="Use a context strategy over that many previous prompts",
    )
    async def set_context_strategy(
        self,
        runner_id: RunnerId,
        ctx_strategy_name: FromPath[str],
        num_of_prompt: PrevPromptsInPath,
        workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        # The strategy is checked first, so an unknown one changes nothing.
        await api_update_context_strategy(runner_id, ctx_strategy_name, workspace=workspace)
        await api_update_cs_num_of_prev_prompts(runner_id, num_of_prompt, workspace=workspace)
        return Success()

    @delete(
        "/context-strategy/{ctx_strategy_name:str}/{num_of_prompt:str}",
        status_code=200,
        summary="Stop using a context strategy; the number of previous prompts becomes 0",
    )
    async def clear_context_strategy(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> Success:
        await api_update_context_strategy(runner_id, "", workspace=workspace)
        await api_update_cs_num_of_prev_prompts(runner_id, 0, workspace=workspace)
        return Success()

    @put("/attack-module/{atk_module_name:str}", summary="Use an attack module")
    async def set_attack_module(
        self,
        runner_id: RunnerId,
        atk_module_name: FromPath[str],
        workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        await api_update_attack_module(runner_id, atk_module_name, workspace=workspace)
        return Success()

    @delete(
        "/attack-module/{atk_module_name:str}",
        status_code=200,
        summary="Stop using an attack module",
    )
    async def clear_attack_module(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> Success:
        await api_update_attack_module(runner_id, "", workspace=workspace)
        return Success()

    @put("/metric/{metric_name:str}", summary="Use a metric")
    async def set_metric(
        self,
        runner_id: RunnerId,
        metric_name: FromPath[str],
        workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        await api_update_metric(runner_id, metric_name, workspace=workspace)
        return Success()

    @delete("/metric/{metric_name:str}", status_code=200, summary="Stop using a metric")
    async def clear_metric(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> Success:
        await api_update_metric(runner_id, "", workspace=workspace)
        return Success()

    @put("/system-prompt", summary="Set the system prompt")
    async def set_system_prompt(
        self,
        runner_id: RunnerId,
        data: JSONBody[SystemPromptUpdate],
        workspace: Workspace,
        existing_session: ExistingSession,
    ) -> Success:
        await api_update_system_prompt(runner_id, data.system_prompt, workspace=workspace)
        return Success()

    @delete("/system-prompt", status_code=200, summary="Clear the system prompt")
    async def clear_system_prompt(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> Success:
        await api_update_system_prompt(runner_id, "", workspace=workspace)
        return Success()
