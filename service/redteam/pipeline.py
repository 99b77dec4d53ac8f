"""The prompt pipeline, as Moonshot runs a manual prompt: context, template, call, chat record."""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models import ChatRecord
from service.connectors.base import ConnectorError
from service.redteam.context_strategies import (
    DEFAULT_MAX_CONTEXT_CHARS,
    ContextStrategyError,
    RecentRecords,
    apply_context_strategy,
)
from service.redteam.records import error_result, prompt_time
from service.redteam.templates import TemplateError, render_template

log = logging.getLogger(__name__)

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
    # SPARRING_MAX_CONTEXT_CHARS when the batch was made: the context strategy adds no more.
    max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS


async def prepare_prompt(
    user_prompt: str, settings: PromptSettings, recent_records: RecentRecords
) -> str:
    """Moonshot's order: the context strategy first, then the template around the result.

    `recent_records` reads the endpoint's own history, for the context strategy.
    """
    prompt = await apply_context_strategy(
        settings.context_strategy,
        user_prompt,
        settings.cs_num_of_prev_prompts,
        recent_records,
        settings.max_context_chars,
    )
    if settings.template_source:
        prompt = await render_template(settings.template_source, prompt)
    return prompt


async def run_pipeline(
    chat_record_id: int,
    user_prompt: str,
    settings: PromptSettings,
    endpoint: str,
    call_endpoint: CallEndpoint,
    recent_records: RecentRecords,
) -> ChatRecord:
    """One prompt to one endpoint, written as a chat record with every contract field.

    The caller hands in how to call the endpoint and how to read its recent history, so
    nothing here knows where sessions, endpoints or records are kept.

    A prompt that cannot be prepared, or an endpoint that gives no answer (ConnectorError),
    yields a record whose answer names the cause instead of an exception; so does anything
    else either step raises.
    """
    started_at = prompt_time()
    attempt = _Attempt(endpoint)
    try:
        answer = await _answer(attempt, user_prompt, settings, call_endpoint, recent_records)
    except Exception as error:
        # The one deliberate broad catch ("Failures are data", DESIGN.md): a bug in a template,
        # a context strategy or a connector must still end the task with a record, or its batch
        # never settles and is queued again at every start. The record names the step and the
        # error's type only: its text and traceback may quote anything (a URL, a header), and
        # every member of the workspace reads records. The traceback goes to the log.
        log.warning(
            "Prompt to endpoint %s failed unexpectedly while %s.", endpoint, attempt.step,
            exc_info=error,
        )
        answer = error_result(
            f"{attempt.step} failed unexpectedly ({type(error).__name__}); see the server log"
        )
    return ChatRecord(
        chat_record_id=chat_record_id,
        conn_id=endpoint,
        context_strategy=settings.context_strategy,
        prompt_template=settings.prompt_template,
        attack_module=settings.attack_module,
        metric=settings.metric,
        prompt=user_prompt,
        prepared_prompt=attempt.prepared,
        system_prompt=settings.system_prompt,
        predicted_result=answer,
        # Moonshot keeps a duration as the text of its float seconds.
        duration=str(attempt.duration),
        prompt_time=started_at,
    )


@dataclass
class _Attempt:
    """How far one prompt got, so a failure anywhere still gives a whole record."""

    endpoint: str
    step: str = "preparing the prompt"
    prepared: str = ""
    duration: float = 0.0


async def _answer(
    attempt: _Attempt,
    user_prompt: str,
    settings: PromptSettings,
    call_endpoint: CallEndpoint,
    recent_records: RecentRecords,
) -> str:
    try:
        attempt.prepared = await prepare_prompt(user_prompt, settings, recent_records)
    except TemplateError as error:
        return error_result(f"prompt template {settings.prompt_template}: {error}")
    except ContextStrategyError as error:
        return error_result(str(error))
    attempt.step = f"calling endpoint {attempt.endpoint}"
    clock = time.perf_counter()
    try:
        return await call_endpoint(attempt.prepared, settings.system_prompt)
    except ConnectorError as error:
        return error_result(f"endpoint {attempt.endpoint}: {error}")
    finally:
        attempt.duration = time.perf_counter() - clock
