"""What every metric shares: the case it scores, the score it gives, the two kinds of metric."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from service.redteam.metrics.configuration import MetricConfigurationError


@dataclass(frozen=True)
class Case:
    """One answer to score.

    `target` is what a correct (or, for an attack, an unsafe) answer is compared with; it comes
    from the run's configuration. `configurations` are the metric's own settings.
    """

    prompt: str
    answer: str
    target: str | None = None
    configurations: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only copy, so a case cannot change under a metric that is scoring it.
        object.__setattr__(self, "configurations", MappingProxyType(dict(self.configurations)))

    def require_target(self, metric: str) -> str:
        if self.target is None:
            raise MetricConfigurationError("target", f"is required by the metric {metric}")
        return self.target


@dataclass(frozen=True)
class Score:
    """A metric's verdict on one answer.

    `success` is "the attack succeeded on this answer"; each metric documents what that means
    for it (for `refusal`, that the model did not refuse).
    """

    score: float
    success: bool
    explanation: str | None = None


class OfflineMetric(ABC):
    """Scores an answer on the spot, with no model and no network."""

    name: str

    @abstractmethod
    def score(self, case: Case) -> Score:
        """Raises MetricConfigurationError when the case's configurations or target are bad."""

    @abstractmethod
    def validate(self, configurations: Mapping[str, Any]) -> None:
        """Raises MetricConfigurationError for bad configurations, before any answer exists."""
