"""Context strategies: what of an endpoint's own history goes in front of a new prompt."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from service.redteam.records import is_error_record

# count -> the endpoint's newest `count` chat records (fewer if there are fewer), newest first.
# Handed in by the domain, which knows where records are kept; a strategy only reads them.
RecentRecords = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]
# (prompt, number of previous prompts, recent records, most characters of context) -> prompt.
ContextStrategy = Callable[[str, int, RecentRecords, int], Awaitable[str]]
# The default of SPARRING_MAX_CONTEXT_CHARS, for prompt settings stored before it existed.
DEFAULT_MAX_CONTEXT_CHARS = 100_000
PAIR_SEPARATOR = "\n\n"


class ContextStrategyError(ValueError):
    """The session names a context strategy there is no code for."""


async def add_previous_prompt(
    prompt: str,
    num_of_prev_prompts: int,
    recent_records: RecentRecords,
    max_chars: int = DEFAULT_MAX_CONTEXT_CHARS,
) -> str:
    """Prepend the endpoint's last `num_of_prev_prompts` prompt/answer pairs, oldest first.

    The original prompts are used, not the prepared ones, so context does not nest inside
    context. Failed prompts (no answer) are left out. The context stays within `max_chars`:
    the oldest pairs are left out first, and a pair is kept whole or not at all, so the model
    never reads half a question or half an answer.
    """
    if num_of_prev_prompts <= 0 or max_chars <= 0:
        return prompt
    # Each pair takes at least one character ("\n"), so no more than `max_chars` can fit.
    newest = await recent_records(min(num_of_prev_prompts, max_chars))
    kept: list[str] = []
    size = 0
    for record in newest:
        if is_error_record(record):
            continue
        pair = f"{record['prompt']}\n{record['predicted_result']}"
        added = len(pair) + (len(PAIR_SEPARATOR) if kept else 0)
        if size + added > max_chars:
            break
        kept.append(pair)
        size += added
    if not kept:
        return prompt
    return f"{PAIR_SEPARATOR.join(reversed(kept))}{PAIR_SEPARATOR}{prompt}"


CONTEXT_STRATEGIES: dict[str, ContextStrategy] = {"add_previous_prompt": add_previous_prompt}


async def apply_context_strategy(
    name: str,
    prompt: str,
    num_of_prev_prompts: int,
    recent_records: RecentRecords,
    max_chars: int = DEFAULT_MAX_CONTEXT_CHARS,
) -> str:
    """`prompt` with the named strategy's context (at most `max_chars` of it); unchanged when
    `name` is empty."""
    if not name:
        return prompt
    strategy = CONTEXT_STRATEGIES.get(name)
    if strategy is None:
        raise ContextStrategyError(f"context strategy {name} does not exist")
    return await strategy(prompt, num_of_prev_prompts, recent_records, max_chars)
