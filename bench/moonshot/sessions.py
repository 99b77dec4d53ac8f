"""Moonshot's side of the sessions case: create N sessions, then time every call at each N.

Runs inside Moonshot's virtualenv (see `bench.moonshot.child`).
"""

from typing import Any

from moonshot.api import (
    api_create_runner,
    api_create_session,
    api_delete_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_load_runner,
    api_load_session,
    api_update_system_prompt,
)

from bench.timing import Bound, measure
from bench.workload import SESSION_ENDPOINTS, SYSTEM_PROMPTS, runner_id, runner_name


def create(index: int) -> None:
    """What Moonshot's web API does for a new session: a runner, then its session."""
    runner = api_create_runner(runner_name(index), SESSION_ENDPOINTS)
    api_create_session(runner.id, runner.database_instance, runner.endpoints, {})


def recreate(index: int) -> None:
    runner = api_load_runner(runner_id(index))
    api_create_session(runner.id, runner.database_instance, runner.endpoints, {})


def populate(count: int) -> dict[str, Any]:
    """Create sessions 1..count, for the HTTP cases."""
    for index in range(1, count + 1):
        create(index)
    return {"sessions": count}


def measure_level(level: int, first_new: int, bound: Bound) -> dict[str, list[float]]:
    """Create sessions up to `level`, then time every call with `level` sessions there."""
    samples = {
        "create": measure(lambda i: create(first_new + i), Bound(level - first_new + 1, 1e9))
    }
    samples["list_metadata"] = measure(lambda i: api_get_all_session_metadata(), bound)
    samples["list_names"] = measure(lambda i: api_get_all_session_names(), bound)
    samples["load"] = measure(lambda i: api_load_session(runner_id(1 + i % level)), bound)
    samples["update_system_prompt"] = measure(
        lambda i: api_update_system_prompt(runner_id(1 + i % level), SYSTEM_PROMPTS[i % 2]),
        bound,
    )
    samples["delete"] = measure(
        lambda i: api_delete_session(runner_id(level - i)),
        Bound(min(bound.count, level), bound.seconds),
    )
    for index in range(level - len(samples["delete"]) + 1, level + 1):
        recreate(index)
    if len(api_get_all_session_names()) != level:
        raise RuntimeError(f"Moonshot lists the wrong number of sessions at N={level}.")
    return samples


def run(levels: list[int], count: int, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    created = 0
    for level in levels:
        figures[str(level)] = measure_level(level, created + 1, Bound(count, seconds))
        created = level
    return figures
