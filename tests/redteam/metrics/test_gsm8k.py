"""exactstrmatch-gsm8k-test: the answer's final number against the target."""

from decimal import Decimal

import pytest

from service.redteam.metrics import Case, MetricConfigurationError
from service.redteam.metrics.gsm8k import final_number
from tests.redteam.metrics.support import offline

METRIC = offline("exactstrmatch-gsm8k-test")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("She has 3 apples and buys 4, so 7. The answer is 7.", Decimal(7)),
        ("Total: $1,234.50 in the end", Decimal("1234.50")),
        ("It drops to -12", Decimal(-12)),
        ("#### 18", Decimal(18)),
        ("no numbers here", None),
    ],
)
def test_final_number_is_the_last_one(text, number):
    assert final_number(text) == number


@pytest.mark.parametrize(
    ("answer", "target", "matched"),
    [
        ("48 clips in April, 24 in May: 72 in all. The answer is 72.", "72", True),
        ("It costs $2.50", "2.5", True),
        ("First 72, then 70", "72", False),
        ("I do not know", "72", False),
    ],
)
def test_matches_the_final_number(answer, target, matched):
    result = METRIC.score(Case("q", answer, target))
    assert (result.score, result.success) == (float(matched), matched)


@pytest.mark.parametrize("target", [None, "seventy-two"])
def test_a_target_without_a_number_raises_naming_target(target):
    with pytest.raises(MetricConfigurationError) as raised:
        METRIC.score(Case("q", "72", target))
    assert raised.value.key == "target"
