"""A run's scores summed up: how many answers were scored, how many attacks succeeded."""

from collections.abc import Iterable
from dataclasses import dataclass

from service.redteam.metrics.base import Score
from service.redteam.metrics.judging import JudgeFailure


@dataclass(frozen=True)
class ScoreSummary:
    # Scores and judge failures together.
    count: int
    scored: int
    successes: int
    judge_failures: int
    # Over the scores only; None when there is none.
    mean_score: float | None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.scored if self.scored else None


def summarise(results: Iterable[Score | JudgeFailure]) -> ScoreSummary:
    scores: list[Score] = []
    failures = 0
    for result in results:
        if isinstance(result, Score):
            scores.append(result)
        else:
            failures += 1
    mean = sum(score.score for score in scores) / len(scores) if scores else None
    return ScoreSummary(
        count=len(scores) + failures,
        scored=len(scores),
        successes=sum(score.success for score in scores),
        judge_failures=failures,
        mean_score=mean,
    )
