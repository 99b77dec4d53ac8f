"""The prompt pipeline, as Moonshot runs a manual prompt: context, template, call, chat record."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models import ChatRecord
from service.connectors.base import ConnectorError
from service.redteam.context_strategies import ContextStrategyError, apply_context_strategy
from service.redteam.records import error_result, prompt_time
from service.redteam.templates import TemplateError, render_template

# (prepared prompt, system prompt) -> the endpoint's answer; raises ConnectorError without one.
CallEndpoint = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True)
class PromptSettings:
    """The session's red-teaming settings as they were when the prompt was sent."""

    prompt_template: str = ""
    # The template's Jinja2 source, fixed with the batch, so a retry renders the same prompt.
    template_source: str = ""
    context_strategy: str = ""
    cs_num_of_prev_prompts: int = 0
    attack_module: str = ""
    metric: str = ""
    system_prompt: str = ""


async def prepare_prompt(
    user_prompt: str, settings: PromptSettings, runner_id: str, endpoint: str, *, workspace: str
) -> str:
    """Moonshot's order: the context strategy first, then the template around the result."""
    prompt = await apply_context_strategy(
        settings.context_strategy,
        runner_id,
        endpoint,
        user_prompt,
        settings.cs_num_of_prev_prompts,
        workspace=workspace,
    )
    if settings.template_source:
        prompt = render_template(settings.template_source, prompt)
    return prompt


async def run_pipeline(
    chat_record_id: int,
    user_prompt: str,
    settings: PromptSettings,
    runner_id: str,
    endpoint: str,
    call_endpoint: CallEndpoint,
    *,
    workspace: str,
) -> ChatRecord:
    """One prompt to one endpoint, written as a chat record with every contract field.

    A prompt that cannot be prepared, or an endpoint that gives no answer (ConnectorError),
    yields a record whose answer names the cause instead of an exception.
    """
    started_at = prompt_time()
    prepared = ""
    duration = 0.0
    try:
        prepared = await prepare_prompt(
            user_prompt, settings, runner_id, endpoint, workspace=workspace
        )
    except TemplateError as error:
        answer = error_result(f"prompt template {settings.prompt_template}: {error}")
    except ContextStrategyError as error:
        answer = error_result(str(error))
    else:
        clock = time.perf_counter()
        try:
            answer = await call_endpoint(prepared, settings.system_prompt)
        except ConnectorError as error:
            answer = error_result(f"endpoint {endpoint}: {error}")
        duration = time.perf_counter() - clock
    return ChatRecord(
        chat_record_id=chat_record_id,
        conn_id=endpoint,
        context_strategy=settings.context_strategy,
        prompt_template=settings.prompt_template,
        attack_module=settings.attack_module,
        metric=settings.metric,
        prompt=user_prompt,
        prepared_prompt=prepared,
        system_prompt=settings.system_prompt,
        predicted_result=answer,
        duration=duration,
        prompt_time=started_at,
    )
