"""Every metric this deployment can score with, by the name sessions use for it."""

from collections.abc import Mapping
from types import MappingProxyType

from service.redteam.metrics.base import OfflineMetric
from service.redteam.metrics.gsm8k import Gsm8kMatch
from service.redteam.metrics.judges import FlagJudgeAnnotator, Gpt4Annotator, LlmJudge, RefusalJudge
from service.redteam.metrics.judging import JudgedMetric
from service.redteam.metrics.matching import ExactStrMatch, RelaxStrMatch, ReverseExactStrMatch
from service.redteam.metrics.overlap import BleuScore, LeakageRate, RougeScore
from service.redteam.metrics.readability import ReadabilityScore
from service.redteam.metrics.sample import SampleMetric
from service.redteam.metrics.spelling import SpellingScore
from service.redteam.metrics.squad import SquadF1

Metric = OfflineMetric | JudgedMetric

_ALL: tuple[Metric, ...] = (
    ExactStrMatch(),
    RelaxStrMatch(),
    ReverseExactStrMatch(),
    SquadF1(),
    Gsm8kMatch(),
    BleuScore(),
    RougeScore(),
    ReadabilityScore(),
    SpellingScore(),
    SampleMetric(),
    LeakageRate(),
    RefusalJudge(),
    Gpt4Annotator(),
    FlagJudgeAnnotator(),
    LlmJudge(),
)

METRICS: Mapping[str, Metric] = MappingProxyType({metric.name: metric for metric in _ALL})
# The names the catalogue may mark runnable once runs call these metrics.
IMPLEMENTED: frozenset[str] = frozenset(METRICS)
