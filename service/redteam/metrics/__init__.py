"""Metrics that score one answer each: offline ones, and ones judged by an LLM endpoint.

Pure pieces: no database, no HTTP, no workers. The run machinery builds a `Case` per answer,
calls `score_answer` (or a metric directly) and stores the `Score` or `JudgeFailure`.
"""

from service.redteam.metrics.base import Case, OfflineMetric, Score
from service.redteam.metrics.configuration import MetricConfigurationError
from service.redteam.metrics.judging import (
    Judge,
    JudgedMetric,
    JudgeFailure,
    JudgeFailureKind,
    JudgePrompt,
    judge_score,
)
from service.redteam.metrics.registry import IMPLEMENTED, METRICS, Metric
from service.redteam.metrics.scoring import score_answer
from service.redteam.metrics.summary import ScoreSummary, summarise

__all__ = [
    "IMPLEMENTED",
    "METRICS",
    "Case",
    "Judge",
    "JudgeFailure",
    "JudgeFailureKind",
    "JudgePrompt",
    "JudgedMetric",
    "Metric",
    "MetricConfigurationError",
    "OfflineMetric",
    "Score",
    "ScoreSummary",
    "judge_score",
    "score_answer",
    "summarise",
]
