"""Context strategies: what of an endpoint's own history goes in front of a new prompt."""

from collections.abc import Awaitable, Callable

from service.api.chats import iter_chat_records
from service.redteam.records import is_error_record

ContextStrategy = Callable[[str, str, str, int, str], Awaitable[str]]


class ContextStrategyError(ValueError):
    """The session names a context strategy there is no code for."""


async def add_previous_prompt(
    runner_id: str, endpoint: str, prompt: str, num_of_prev_prompts: int, workspace: str
) -> str:
    """Prepend the endpoint's last `num_of_prev_prompts` prompt/answer pairs, oldest first.

    Only the newest bucket(s) are read, however long the history. The original prompts are
    used, not the prepared ones, so context does not nest inside context. Failed prompts
    (no answer) are left out.
    """
    if num_of_prev_prompts <= 0:
        return prompt
    newest = [
        record
        async for record in iter_chat_records(
            runner_id, endpoint, workspace=workspace, newest_first=True, limit=num_of_prev_prompts
        )
    ]
    pairs = [record for record in reversed(newest) if not is_error_record(record)]
    if not pairs:
        return prompt
    context = "\n\n".join(f"{record['prompt']}\n{record['predicted_result']}" for record in pairs)
    return f"{context}\n\n{prompt}"


CONTEXT_STRATEGIES: dict[str, ContextStrategy] = {"add_previous_prompt": add_previous_prompt}


async def apply_context_strategy(
    name: str,
    runner_id: str,
    endpoint: str,
    prompt: str,
    num_of_prev_prompts: int,
    *,
    workspace: str,
) -> str:
    """`prompt` with the named strategy's context; unchanged when `name` is empty."""
    if not name:
        return prompt
    strategy = CONTEXT_STRATEGIES.get(name)
    if strategy is None:
        raise ContextStrategyError(f"context strategy {name} does not exist")
    return await strategy(runner_id, endpoint, prompt, num_of_prev_prompts, workspace)
