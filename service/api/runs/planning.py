"""Which attack prompts a run sends next, by the kind of its module.

A perturbation's prompts follow from the seed prompt and the run's seed alone; a generator's
come from its attacker once and are kept on the run; `pair` proposes each round from the last
round's answer and the judge's verdict on it. Every prompt has a key that names it within the
run, so planning it twice stores it once (`models.runs.run_batch_id`).
"""

import asyncio
from dataclasses import dataclass

from service.api.runs.state import RunState
from service.api.runs.transitions import store_generated_prompts
from service.redteam.attacks.base import Attacker, AttackModule, Generator, Perturbation
from service.redteam.attacks.errors import InvalidConfiguration
from service.redteam.attacks.judge import LOWEST, JudgeVerdict
from service.redteam.attacks.pair import Pair, PairSettings


@dataclass(frozen=True)
class PlannedPrompt:
    key: str
    prompt: str
    endpoints: tuple[str, ...]


async def plan(
    module: AttackModule, state: RunState, attacker: Attacker | None
) -> list[PlannedPrompt]:
    """The attack prompts to send now: none once the module has nothing more to send, or while
    the run has as many in flight as it may."""
    if not state.active:
        return []
    if isinstance(module, Pair):
        if attacker is None:
            raise InvalidConfiguration("endpoints", "must name an attacker endpoint for pair")
        return await _pair_round(module, state, attacker)
    if isinstance(module, Perturbation):
        prompts = module.attack_prompts(
            state.run.seed_prompt, configurations=state.run.module_configurations,
            seed=state.run.seed,
        )
    elif isinstance(module, Generator):
        prompts = await _generated(module, state, attacker)
    else:
        raise InvalidConfiguration("attack_module", f"{module.name} has no way to run")
    return _next_in_order(prompts, state)


def _next_in_order(prompts: list[str], state: RunState) -> list[PlannedPrompt]:
    free = state.run.parallel_prompts - state.in_flight
    start = state.sent_count
    endpoints = tuple(state.active)
    return [
        PlannedPrompt(key=f"{index:04d}", prompt=prompt, endpoints=endpoints)
        for index, prompt in enumerate(prompts[start:start + max(free, 0)], start=start)
    ]


async def _generated(module: Generator, state: RunState, attacker: Attacker | None) -> list[str]:
    run = state.run
    if run.generated_prompts is not None:
        return run.generated_prompts
    if attacker is None:
        raise InvalidConfiguration("endpoints", f"must name an attacker endpoint for {module.name}")
    prompts = await module.attack_prompts(
        run.seed_prompt, attacker=attacker, configurations=run.module_configurations,
        seed=run.seed,
    )
    return await store_generated_prompts(run, prompts)


def pair_key(stream: int, endpoint_index: int, round_: int) -> str:
    return f"s{stream}e{endpoint_index}r{round_:03d}"


async def _pair_round(module: Pair, state: RunState, attacker: Attacker) -> list[PlannedPrompt]:
    """The next round of every stream of every endpoint still attacked whose last round has
    its answer: a stream ends on a success or after `max_iteration` rounds."""
    settings = module.settings(state.run.module_configurations)
    goal = state.run.seed_prompt
    due: list[tuple[str, str, JudgeVerdict | None, str]] = []
    for index, endpoint in enumerate(state.run.endpoints):
        if endpoint not in state.active:
            continue
        for stream in range(settings.streams):
            step = _next_step(state, settings, stream, index, endpoint)
            if step is not None:
                due.append((pair_key(stream, index, step[0]), endpoint, step[1], step[2]))

    async def propose(verdict: JudgeVerdict | None, answer: str) -> str:
        proposal = (
            await module.propose(attacker, goal) if verdict is None
            else await module.propose(attacker, goal, target_answer=answer, verdict=verdict)
        )
        return module.target_prompt(proposal, settings)

    prompts = await asyncio.gather(*(propose(verdict, answer) for _, _, verdict, answer in due))
    return [
        PlannedPrompt(key=key, prompt=prompt, endpoints=(endpoint,))
        for (key, endpoint, _, _), prompt in zip(due, prompts, strict=True)
    ]


def _next_step(
    state: RunState, settings: PairSettings, stream: int, index: int, endpoint: str
) -> tuple[int, JudgeVerdict | None, str] | None:
    """(round, the last round's verdict, its answer) of the stream's next round, or None."""
    last = 0
    while pair_key(stream, index, last + 1) in state.sent:
        last += 1
    if last == 0:
        return 1, None, ""
    key = pair_key(stream, index, last)
    if not state.sent[key].finished or last >= settings.rounds:
        return None
    outcome = state.outcome(key, endpoint)
    if outcome is None or outcome.status.value == "cancelled" or outcome.success:
        return None
    if outcome.error:
        verdict = JudgeVerdict(LOWEST, "The target gave no answer (its call failed).")
    elif outcome.score is None:
        verdict = JudgeVerdict(LOWEST, f"The judge gave no verdict: {outcome.score_error}")
    else:
        verdict = JudgeVerdict(int(outcome.score), outcome.explanation or "")
    return last + 1, verdict, outcome.answer
