"""Sessions case: create N sessions (N = 10, 100, 1000) and time every call at each N, on both."""

from typing import Any

from bench.commands import CommandCounter, Counted, measure_counted
from bench.context import RunContext, log
from bench.figures import CaseResult, timed
from bench.timing import Bound, percentile
from bench.workload import SESSION_ENDPOINTS, SYSTEM_PROMPTS, runner_id, runner_name
from service.api import (
    api_create_session,
    api_delete_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_load_session,
    api_update_system_prompt,
)
from service.api.sessions.runners import create_runner_with_session

CASE = "sessions"
WORKSPACE = "bench-sessions"
PAGE = 100
MEASURES = {
    "create": "create a session (runner and session)",
    "list_metadata": "list all session metadata",
    "list_metadata_page": f"list session metadata, page of {PAGE}",
    "list_names": "list session names",
    "load": "load one session",
    "update_system_prompt": "update the system prompt",
    "delete": "delete a session",
}

Samples = dict[str, dict[str, list[float]]]
# Database commands per call, by level and measure.
Commands = dict[str, dict[str, Counted | None]]


async def measure_level(
    level: int, first_new: int, bound: Bound, counter: CommandCounter
) -> tuple[dict[str, list[float]], dict[str, Counted | None]]:
    """`bench.moonshot.sessions.measure_level` on Sparring's api functions, with the commands
    each call sent."""
    samples: dict[str, list[float]] = {}
    commands: dict[str, Counted | None] = {}

    async def sample(call: Any, bound: Bound, name: str) -> None:
        samples[name], commands[name] = await measure_counted(counter, call, bound)

    async def create(i: int) -> None:
        await create_runner_with_session(
            runner_name(first_new + i), "", SESSION_ENDPOINTS, {}, workspace=WORKSPACE
        )

    async def update(i: int) -> None:
        await api_update_system_prompt(
            runner_id(1 + i % level), SYSTEM_PROMPTS[i % 2], workspace=WORKSPACE
        )

    await sample(create, Bound(level - first_new + 1, 1e9), "create")
    await sample(
        lambda i: api_get_all_session_metadata(workspace=WORKSPACE), bound, "list_metadata"
    )
    await sample(
        lambda i: api_get_all_session_metadata(workspace=WORKSPACE, limit=PAGE), bound,
        "list_metadata_page",
    )
    await sample(
        lambda i: api_get_all_session_names(workspace=WORKSPACE), bound, "list_names"
    )
    await sample(
        lambda i: api_load_session(runner_id(1 + i % level), workspace=WORKSPACE), bound, "load"
    )
    await sample(update, bound, "update_system_prompt")
    await sample(
        lambda i: api_delete_session(runner_id(level - i), workspace=WORKSPACE),
        Bound(min(bound.count, level), bound.seconds), "delete",
    )
    for index in range(level - len(samples["delete"]) + 1, level + 1):
        await api_create_session(runner_id(index), None, SESSION_ENDPOINTS, {}, workspace=WORKSPACE)
    listed = await api_get_all_session_names(workspace=WORKSPACE)
    if len(listed) != level:
        raise RuntimeError(f"Sparring lists {len(listed)} sessions at N={level}.")
    return samples, commands


async def measure_sparring(
    levels: tuple[int, ...], bound: Bound, counter: CommandCounter
) -> tuple[Samples, Commands]:
    figures: Samples = {}
    commands: Commands = {}
    created = 0
    for level in levels:
        figures[str(level)], commands[str(level)] = await measure_level(
            level, created + 1, bound, counter
        )
        created = level
    return figures, commands


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    log.info("sessions: Sparring, N = %s", plan.session_levels)
    ours, commands = await measure_sparring(
        plan.session_levels, plan.calls, context.sparring.commands
    )
    theirs: Samples | None = None
    if context.moonshot is not None:
        log.info("sessions: Moonshot, N = %s", plan.session_levels)
        theirs = await context.moonshot.run_case(
            "sessions",
            {
                "levels": list(plan.session_levels),
                "count": plan.calls.count,
                "seconds": plan.calls.seconds,
            },
            context.moonshot.fresh_data("sessions"),
        )
    result = CaseResult()
    for level in plan.session_levels:
        for name, measure in MEASURES.items():
            moonshot = None if theirs is None else theirs[str(level)].get(name)
            result.figures.append(
                timed(
                    CASE, name, measure, f"N={level}", ours[str(level)][name], moonshot,
                    commands=commands[str(level)][name],
                )
            )
    result.series["cost_per_call"] = {
        "levels": list(plan.session_levels),
        "sparring": _medians(ours, plan.session_levels),
        "moonshot": None if theirs is None else _medians(theirs, plan.session_levels),
    }
    return result


def _medians(samples: Samples, levels: tuple[int, ...]) -> dict[str, list[float]]:
    return {
        name: [percentile(samples[str(level)][name], 0.5) * 1000 for level in levels]
        for name in MEASURES
        if name in samples[str(levels[0])]
    }
