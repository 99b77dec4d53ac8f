"""A run's own options, read from its attack module's configurations beside the module's."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.redteam.attacks.base import AttackModule
from service.redteam.attacks.configuration import integer_setting, seed_value
from service.redteam.attacks.errors import InvalidConfiguration

SEED = "seed"
STOP_ON_SUCCESS = "stop_on_success"
PARALLEL_PROMPTS = "parallel_prompts"
# Attack prompts of one run in flight at once: enough to keep ten slow endpoints busy, few
# enough that one run never holds a whole worker.
DEFAULT_PARALLEL_PROMPTS = 10
MAX_PARALLEL_PROMPTS = 100


@dataclass(frozen=True)
class RunOptions:
    seed: int
    max_iteration: int
    stop_on_success: bool
    parallel_prompts: int


def run_options(module: AttackModule, configurations: Mapping[str, Any]) -> RunOptions:
    """The run's options; raises `InvalidConfiguration` naming the first bad key."""
    module.check(configurations)
    stop_on_success = configurations.get(STOP_ON_SUCCESS, True)
    if not isinstance(stop_on_success, bool):
        raise InvalidConfiguration(STOP_ON_SUCCESS, "must be true or false")
    return RunOptions(
        seed=seed_value(configurations.get(SEED, 0)),
        max_iteration=module.max_iteration(configurations),
        stop_on_success=stop_on_success,
        parallel_prompts=integer_setting(
            configurations, PARALLEL_PROMPTS, default=DEFAULT_PARALLEL_PROMPTS,
            low=1, high=MAX_PARALLEL_PROMPTS,
        ),
    )
