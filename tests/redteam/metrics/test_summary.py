"""Summing up a run's scores."""

import pytest

from service.redteam.metrics import JudgeFailure, JudgeFailureKind, Score, summarise


def test_counts_successes_and_means_over_scores_only():
    summary = summarise([
        Score(1.0, True),
        Score(0.5, False, "half"),
        JudgeFailure(JudgeFailureKind.UNPARSEABLE, "expected a grade"),
        Score(0.0, True),
    ])
    assert (summary.count, summary.scored, summary.successes, summary.judge_failures) == (
        4, 3, 2, 1,
    )
    assert summary.mean_score == pytest.approx(0.5)
    assert summary.success_rate == pytest.approx(2 / 3)


def test_nothing_scored_has_no_mean_and_no_rate():
    summary = summarise([JudgeFailure(JudgeFailureKind.CALL_FAILED, "503")])
    assert (summary.count, summary.scored, summary.judge_failures) == (1, 0, 1)
    assert summary.mean_score is None
    assert summary.success_rate is None
    assert summarise([]).count == 0


def test_accepts_any_iterable_once():
    summary = summarise(Score(float(n), n % 2 == 0) for n in range(4))
    assert (summary.count, summary.successes, summary.mean_score) == (4, 2, 1.5)
