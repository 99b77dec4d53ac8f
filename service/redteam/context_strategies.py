"""Context strategies: what of an endpoint's own history goes in front of a new prompt."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from service.redteam.records import is_error_record

# count -> the endpoint's newest `count` chat records (fewer if there are fewer), newest first.
# Handed in by the domain, which knows where records are kept; a strategy only reads them.
RecentRecords = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]
ContextStrategy = Callable[[str, int, RecentRecords], Awaitable[str]]


class ContextStrategyError(ValueError):
    """The session names a context strategy there is no code for."""


async def add_previous_prompt(
    prompt: str, num_of_prev_prompts: int, recent_records: RecentRecords
) -> str:
    """Prepend the endpoint's last `num_of_prev_prompts` prompt/answer pairs, oldest first.

    The original prompts are used, not the prepared ones, so context does not nest inside
    context. Failed prompts (no answer) are left out.
    """
    if num_of_prev_prompts <= 0:
        return prompt
    newest = await recent_records(num_of_prev_prompts)
    pairs = [record for record in reversed(newest) if not is_error_record(record)]
    if not pairs:
        return prompt
    context = "\n\n".join(f"{record['prompt']}\n{record['predicted_result']}" for record in pairs)
    return f"{context}\n\n{prompt}"


CONTEXT_STRATEGIES: dict[str, ContextStrategy] = {"add_previous_prompt": add_previous_prompt}


async def apply_context_strategy(
    name: str, prompt: str, num_of_prev_prompts: int, recent_records: RecentRecords
) -> str:
    """`prompt` with the named strategy's context; unchanged when `name` is empty."""
    if not name:
        return prompt
    strategy = CONTEXT_STRATEGIES.get(name)
    if strategy is None:
        raise ContextStrategyError(f"context strategy {name} does not exist")
    return await strategy(prompt, num_of_prev_prompts, recent_records)
