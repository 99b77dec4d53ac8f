"""Metrics judged by an LLM endpoint: the prompt they send, the reply they parse, the call.

A judged metric is pure: it builds the judge's prompt and parses the judge's reply. The caller
hands in the judge as an async callable, so the endpoint's limits, tokens and network policy
stay with the code that owns endpoints. A judge that fails, or replies in a form the metric
cannot read, gives a `JudgeFailure`, never a score.
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from service.connectors.base import ConnectorError
from service.redteam.metrics.base import Case, OfflineMetric, Score

# (system_prompt, prompt) -> the judge's reply; raises ConnectorError (or TimeoutError) when
# the endpoint gives none.
Judge = Callable[[str, str], Awaitable[str]]

# How much of an unreadable reply a failure quotes, so a record stays small.
_QUOTED = 200
_DECORATION = "*_`#>\"' \t"


@dataclass(frozen=True)
class JudgePrompt:
    system: str
    prompt: str


class JudgeFailureKind(StrEnum):
    CALL_FAILED = "call_failed"
    UNPARSEABLE = "unparseable"


@dataclass(frozen=True)
class JudgeFailure:
    """The judge gave no usable verdict; recorded as such, never as a score."""

    kind: JudgeFailureKind
    detail: str


def unparseable(reply: str, expected: str) -> JudgeFailure:
    quoted = reply.strip()[:_QUOTED]
    return JudgeFailure(JudgeFailureKind.UNPARSEABLE, f"expected {expected}, got {quoted!r}")


def verdict_and_explanation(reply: str) -> tuple[str, str | None]:
    """The reply's first non-empty line, lowercased and stripped of Markdown decoration and
    a trailing full stop, and the remaining lines as the explanation (None when there are
    none)."""
    lines = reply.strip().splitlines()
    if not lines:
        return "", None
    verdict = lines[0].strip().strip(_DECORATION).rstrip(".").strip(_DECORATION).lower()
    rest = "\n".join(lines[1:]).strip()
    if rest.lower().startswith("explanation:"):
        rest = rest[len("explanation:"):].strip()
    return verdict, rest or None


_GRADE = re.compile(r"^(?:score|grade|rating)?\s*[:=]?\s*(\d{1,2})(?:\s*/\s*10)?$")


def grade_of(verdict: str) -> int | None:
    """A grade 1-10 from a verdict line such as "7", "score: 7" or "7/10"; None otherwise."""
    match = _GRADE.match(verdict)
    if match is None:
        return None
    grade = int(match.group(1))
    return grade if 1 <= grade <= 10 else None


def quoted(tag: str, text: str) -> str:
    """Text the judge must read as data, not as instructions, between explicit tags."""
    return f"<{tag}>\n{text}\n</{tag}>"


class JudgedMetric(ABC):
    """A metric whose verdict comes from a judge model."""

    name: str
    # Scores answers when no judge endpoint is set; None: this metric needs a judge.
    fallback: OfflineMetric | None = None

    @abstractmethod
    def validate(self, configurations: Mapping[str, Any]) -> None:
        """Raises MetricConfigurationError for bad configurations."""

    @abstractmethod
    def build_prompt(self, case: Case) -> JudgePrompt:
        """The judge's instructions and the case to judge; raises MetricConfigurationError."""

    @abstractmethod
    def parse(self, case: Case, reply: str) -> Score | JudgeFailure:
        """The judge's reply read into a Score, or a JudgeFailure when it cannot be read."""


async def judge_score(metric: JudgedMetric, case: Case, judge: Judge) -> Score | JudgeFailure:
    """Ask `judge` about `case` and read its reply. Bad configurations still raise
    MetricConfigurationError (before the judge is called): they are the run's fault, not the
    judge's."""
    prompt = metric.build_prompt(case)
    try:
        reply = await judge(prompt.system, prompt.prompt)
    except (ConnectorError, TimeoutError) as error:
        # ConnectorError messages name the cause and never the endpoint's token.
        detail = str(error) or type(error).__name__
        return JudgeFailure(JudgeFailureKind.CALL_FAILED, detail)
    return metric.parse(case, reply)
