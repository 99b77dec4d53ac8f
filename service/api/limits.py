"""Fair share: what one request may store or cost, and the checks that refuse more.

Each limit is a setting (`SPARRING_MAX_*`); each refusal is `InvalidInput` naming the field
and the limit, raised before anything is stored. The length and count limits guard the HTTP
face; the Python face keeps Moonshot's behaviour there (its callers already hold the
database). What one prompt costs the shared workers is checked on both faces.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.api.errors import InvalidInput
from service.settings import Settings


@dataclass(frozen=True)
class Limits:
    """The limits in force, read once from the settings and handed to the checks."""

    max_endpoints_per_session: int
    max_system_prompt_chars: int
    max_template_chars: int
    max_prev_prompts: int
    max_context_chars: int
    max_prompt_answer_chars: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


# For callers given no settings (the Python face, tests): every setting's default.
DEFAULT_LIMITS = Limits(
    **{name: Settings.model_fields[name].default for name in Limits.__dataclass_fields__}
)
_SETTING_NAMES = {name: f"SPARRING_{name.upper()}" for name in Limits.__dataclass_fields__}


def check_text_length(field: str, text: str, *, limit: int, setting: str) -> None:
    """Refuse `text` longer than `limit` characters, naming the field and the limit."""
    if len(text) > limit:
        raise InvalidInput(
            f"{field} must be at most {limit} characters ({_SETTING_NAMES[setting]}); "
            f"it has {len(text)}.",
            field=field,
        )


def check_endpoint_list(endpoints: Sequence[str], limits: Limits) -> None:
    """A session's endpoints over HTTP: each id once, and no more than the limit."""
    seen: set[str] = set()
    for endpoint in endpoints:
        if endpoint in seen:
            raise InvalidInput(
                f"endpoints must not repeat an endpoint id; {endpoint!r} appears more than once.",
                field="endpoints",
            )
        seen.add(endpoint)
    _check_endpoint_count(len(endpoints), limits)


def _check_endpoint_count(count: int, limits: Limits) -> None:
    if count > limits.max_endpoints_per_session:
        raise InvalidInput(
            f"endpoints may list at most {limits.max_endpoints_per_session} endpoints "
            f"({_SETTING_NAMES['max_endpoints_per_session']}); it has {count}.",
            field="endpoints",
        )


def check_prev_prompts(
    count: int, limits: Limits, *, field: str = "cs_num_of_prev_prompts"
) -> None:
    """The number of previous prompts a context strategy reads, over HTTP: 0 to the limit."""
    if count > limits.max_prev_prompts:
        raise InvalidInput(
            f"{field} must be at most {limits.max_prev_prompts} "
            f"({_SETTING_NAMES['max_prev_prompts']}); it is {count}.",
            field=field,
        )


def check_session_settings(fields: dict[str, Any], limits: Limits) -> None:
    """The HTTP limits on the session settings among `fields` (create and PATCH bodies)."""
    system_prompt = fields.get("system_prompt")
    if system_prompt:
        check_system_prompt(system_prompt, limits)
    count = fields.get("cs_num_of_prev_prompts")
    if count is not None:
        check_prev_prompts(count, limits)


def check_system_prompt(system_prompt: str, limits: Limits) -> None:
    check_text_length(
        "system_prompt", system_prompt, limit=limits.max_system_prompt_chars,
        setting="max_system_prompt_chars",
    )


def check_template_source(template: str, limits: Limits) -> None:
    check_text_length(
        "template", template, limit=limits.max_template_chars, setting="max_template_chars"
    )


def prompt_answer_estimate(
    endpoint_count: int, user_prompt: str, prompt_settings: dict[str, Any], limits: Limits
) -> int:
    """Characters the answer to a prompt may hold, known before anything is sent.

    Each endpoint's record repeats the prompt, the prepared prompt and the system prompt; the
    prepared prompt is at most the prompt, the context the strategy may add and the template's
    text. The models' own answers are bounded by the endpoints (their token limits), not here.
    """
    context = (
        limits.max_context_chars
        if prompt_settings.get("context_strategy") and prompt_settings.get("cs_num_of_prev_prompts")
        else 0
    )
    prepared = len(user_prompt) + context + len(prompt_settings.get("template_source", ""))
    per_endpoint = len(user_prompt) + prepared + len(prompt_settings.get("system_prompt", ""))
    return endpoint_count * per_endpoint


def check_prompt_cost(
    endpoints: Sequence[str], user_prompt: str, prompt_settings: dict[str, Any], limits: Limits
) -> dict[str, Any]:
    """Refuse a prompt that would create too many tasks or too large an answer.

    Returns the prompt settings to store with the batch, with the context cap in force now,
    so that a task retried after a restart prepares the same prompt.
    """
    _check_endpoint_count(len(set(endpoints)), limits)
    estimate = prompt_answer_estimate(len(set(endpoints)), user_prompt, prompt_settings, limits)
    if estimate > limits.max_prompt_answer_chars:
        raise InvalidInput(
            f"user_prompt would make an answer of up to {estimate} characters (endpoints x "
            "(prompt + prepared prompt + system prompt)); at most "
            f"{limits.max_prompt_answer_chars} ({_SETTING_NAMES['max_prompt_answer_chars']}).",
            field="user_prompt",
        )
    return {**prompt_settings, "max_context_chars": limits.max_context_chars}
