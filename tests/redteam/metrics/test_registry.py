"""The registry: the names it implements, their catalogue entries, and the package's imports."""

from pathlib import Path

import pytest

import service.redteam.metrics
from models import RegistryKind
from service.redteam.catalogue import RUNNABLE_MODULES, Needs, built_in
from service.redteam.metrics import IMPLEMENTED, METRICS, JudgedMetric, OfflineMetric
from tests.redteam.test_layering import FORBIDDEN
from tests.support.imports import reached

OFFLINE = {
    "exactstrmatch", "relaxstrmatch", "reverseexactstrmatch", "exactstrmatch-f1-squad-v2",
    "exactstrmatch-gsm8k-test", "bleuscore", "rougescorer", "readabilityscore", "spelling",
    "samplemetric", "leakagerate",
}
JUDGED = {"refusal", "gpt4annotator", "flagjudgeannotator", "llm-judge"}


def test_implements_the_offline_and_judged_metrics_of_the_issue():
    assert IMPLEMENTED == OFFLINE | JUDGED
    offline = {name for name, metric in METRICS.items() if isinstance(metric, OfflineMetric)}
    judged = {name for name, metric in METRICS.items() if isinstance(metric, JudgedMetric)}
    assert (offline, judged) == (OFFLINE, JUDGED)
    assert all(metric.name == name for name, metric in METRICS.items())


@pytest.mark.parametrize("name", sorted(IMPLEMENTED))
def test_each_is_a_catalogue_metric_whose_defaults_validate(name):
    entry = built_in(RegistryKind.METRIC, name)
    assert entry is not None
    METRICS[name].validate(entry.configurations)


def test_every_implemented_metric_is_marked_runnable_and_no_other():
    assert {name for kind, name in RUNNABLE_MODULES if kind is RegistryKind.METRIC} == IMPLEMENTED


def test_judged_metrics_still_say_they_need_a_judge_and_run():
    # A run refuses to start until the metric's endpoints name a judge (or it has a fallback).
    for name in JUDGED:
        entry = built_in(RegistryKind.METRIC, name)
        assert entry is not None
        assert (entry.needs, entry.runnable) == (Needs.JUDGE_ENDPOINT, True)


def test_the_metrics_package_imports_nothing_of_the_domain():
    assert reached(Path(service.redteam.metrics.__file__).parent, FORBIDDEN) == set()
