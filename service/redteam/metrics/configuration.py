"""Reading a metric's configurations: typed values, or an error that names the bad key."""

import math
from collections.abc import Mapping
from typing import Any


class MetricConfigurationError(ValueError):
    """A metric's configuration (or the run's target) is missing or unusable; `key` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"Metric configuration '{key}' {problem}.")
        self.key = key


def read_number(
    configurations: Mapping[str, Any], key: str, default: float, *, low: float, high: float
) -> float:
    """A finite number within [low, high]; numeric strings count, since Moonshot's defaults
    store some thresholds as strings (samplemetric's `threshold_value` is "0.35")."""
    value = configurations.get(key, default)
    if isinstance(value, bool):
        raise MetricConfigurationError(key, "must be a number, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise MetricConfigurationError(key, f"must be a number, got {value!r}") from None
    if not isinstance(value, int | float):
        raise MetricConfigurationError(key, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise MetricConfigurationError(key, f"must be between {low:g} and {high:g}")
    return number


def read_choice(
    configurations: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]
) -> str:
    value = configurations.get(key, default)
    if value not in choices:
        raise MetricConfigurationError(key, f"must be one of {', '.join(choices)}")
    return str(value)


def read_text(configurations: Mapping[str, Any], key: str, default: str = "") -> str:
    """A non-empty string (after trimming)."""
    value = configurations.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise MetricConfigurationError(key, "must be a non-empty string")
    return value.strip()
