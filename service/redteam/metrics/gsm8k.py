"""GSM8K's check: the last number of the answer against the target number."""

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from service.redteam.metrics.base import Case, OfflineMetric, Score
from service.redteam.metrics.configuration import MetricConfigurationError

# A signed number with optional thousands separators and decimals: "-1,234.50", "42".
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def final_number(text: str) -> Decimal | None:
    """The last number written in `text` (currency signs and commas ignored), or None."""
    for match in reversed(_NUMBER.findall(text)):
        try:
            return Decimal(match.replace(",", ""))
        except InvalidOperation:
            continue
    return None


class Gsm8kMatch(OfflineMetric):
    """Score 1 when the answer's final number equals the target's number (2.50 equals 2.5),
    else 0. Success: they are equal."""

    name = "exactstrmatch-gsm8k-test"

    def validate(self, configurations: Mapping[str, Any]) -> None:
        """No configurations."""

    def score(self, case: Case) -> Score:
        expected = final_number(case.require_target(self.name))
        if expected is None:
            raise MetricConfigurationError("target", "must hold a number for GSM8K")
        found = final_number(case.answer)
        if found is None:
            return Score(0.0, False, "the answer holds no number")
        matched = found == expected
        return Score(float(matched), matched, f"final number {found.normalize():f}")
