"""Scoring one answer with any metric: offline at once, judged through the judge handed in."""

from service.redteam.metrics.base import Case, OfflineMetric, Score
from service.redteam.metrics.configuration import MetricConfigurationError
from service.redteam.metrics.judging import Judge, JudgeFailure, judge_score
from service.redteam.metrics.registry import Metric


async def score_answer(metric: Metric, case: Case, judge: Judge | None) -> Score | JudgeFailure:
    """A judged metric without a judge uses its offline fallback (the phrase detector for
    `refusal`); one without a fallback raises MetricConfigurationError naming `endpoints`."""
    if isinstance(metric, OfflineMetric):
        return metric.score(case)
    if judge is not None:
        return await judge_score(metric, case, judge)
    if metric.fallback is not None:
        return metric.fallback.score(case)
    raise MetricConfigurationError("endpoints", f"must name a judge endpoint for {metric.name}")
