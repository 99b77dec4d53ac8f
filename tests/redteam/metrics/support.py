"""The registry's metrics, narrowed to their kind, for the tests."""

from service.redteam.metrics import METRICS, JudgedMetric, OfflineMetric


def offline(name: str) -> OfflineMetric:
    metric = METRICS[name]
    assert isinstance(metric, OfflineMetric)
    return metric


def judged(name: str) -> JudgedMetric:
    metric = METRICS[name]
    assert isinstance(metric, JudgedMetric)
    return metric
