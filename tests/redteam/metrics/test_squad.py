"""exactstrmatch-f1-squad-v2: token F1 after SQuAD v2's normalisation."""

import pytest

from service.redteam.metrics import Case, MetricConfigurationError
from service.redteam.metrics.squad import squad_tokens, token_f1
from tests.redteam.metrics.support import offline

METRIC = offline("exactstrmatch-f1-squad-v2")


def test_normalisation_drops_case_punctuation_and_articles():
    tokens = squad_tokens("The Eiffel-Tower, in an old Paris!")
    assert tokens == ["eiffeltower", "in", "old", "paris"]


@pytest.mark.parametrize(
    ("answer", "target", "f1"),
    [
        # 2 common of 4 answer tokens and 2 target tokens: P 1/2, R 1, F1 2/3.
        ("in Paris, France today", "Paris France", 2 / 3),
        # Articles and case vanish: an exact match.
        ("The Denver Broncos", "denver broncos", 1.0),
        # Nothing in common.
        ("Lyon", "Paris", 0.0),
        # SQuAD v2's unanswerable rule: both empty agree, one empty does not.
        ("", "", 1.0),
        ("the", "", 1.0),
        ("Paris", "", 0.0),
        # Repeated tokens count once per occurrence: common 1, P 1/3, R 1, F1 1/2.
        ("paris paris paris", "paris", 0.5),
    ],
)
def test_token_f1_of_known_pairs(answer, target, f1):
    assert token_f1(answer, target) == pytest.approx(f1)


def test_success_follows_the_threshold():
    case = Case("q", "in Paris, France today", "Paris France")
    result = METRIC.score(case)
    assert result.score == pytest.approx(2 / 3)
    assert (result.success, result.explanation) == (True, "exact match: no")
    strict = Case("q", case.answer, case.target, {"threshold": 0.9})
    assert METRIC.score(strict).success is False


def test_bad_threshold_names_the_key():
    with pytest.raises(MetricConfigurationError) as raised:
        METRIC.score(Case("q", "a", "a", {"threshold": 2}))
    assert raised.value.key == "threshold"
