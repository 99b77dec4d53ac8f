"""Reading a module's `configurations`: each value checked, a bad one named by its key."""

from collections.abc import Mapping, Sequence
from typing import Any

from service.redteam.attacks.errors import InvalidConfiguration

MAX_ITERATION = "max_iteration"
WORD_SWAP_RATIO = "word_swap_ratio"
CONVERTERS = "converters"
# A run is one bounded batch of tasks; a larger count is a typo, not a plan.
MAX_ITERATION_LIMIT = 1000
DEFAULT_MAX_ITERATION = 10
DEFAULT_WORD_SWAP_RATIO = 0.2


def _is_int(value: Any) -> bool:
    # bool is an int to Python, never to a user typing a count.
    return isinstance(value, int) and not isinstance(value, bool)


def integer_setting(
    configurations: Mapping[str, Any], key: str, *, default: int, low: int, high: int
) -> int:
    value = configurations.get(key, default)
    if not _is_int(value) or not low <= value <= high:
        raise InvalidConfiguration(key, f"must be a whole number from {low} to {high}")
    return int(value)


def max_iteration(configurations: Mapping[str, Any], *, default: int) -> int:
    """How many attack prompts (or rounds) the module makes."""
    return integer_setting(
        configurations, MAX_ITERATION, default=default, low=1, high=MAX_ITERATION_LIMIT
    )


def word_swap_ratio(configurations: Mapping[str, Any]) -> float:
    """The share of a prompt's words a perturbation changes, above 0 and at most 1."""
    value = configurations.get(WORD_SWAP_RATIO, DEFAULT_WORD_SWAP_RATIO)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise InvalidConfiguration(WORD_SWAP_RATIO, "must be a number above 0 and at most 1")
    return float(value)


def name_list(configurations: Mapping[str, Any], key: str, known: Sequence[str]) -> list[str]:
    """A list of names, each one of `known`; absent means none."""
    value = configurations.get(key, [])
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidConfiguration(key, f"must be a list of names from {', '.join(known)}")
    unknown = [item for item in value if not isinstance(item, str) or item not in known]
    if unknown:
        raise InvalidConfiguration(key, f"unknown {unknown[0]!r}; known: {', '.join(known)}")
    return list(value)


def seed_value(seed: Any) -> int:
    """The run's seed: every random choice of a module comes from it."""
    if not _is_int(seed):
        raise InvalidConfiguration("seed", "must be a whole number")
    return int(seed)
