"""Reading configurations: typed values, and errors that name the key."""

import math

import pytest

from service.redteam.metrics.base import Case
from service.redteam.metrics.configuration import (
    MetricConfigurationError,
    read_choice,
    read_number,
    read_text,
)


class TestReadNumber:
    @pytest.mark.parametrize(("given", "expected"), [(0.3, 0.3), (1, 1.0), ("0.35", 0.35)])
    def test_reads_numbers_and_numeric_strings(self, given, expected):
        assert read_number({"threshold": given}, "threshold", 0.5, low=0, high=1) == expected

    def test_missing_key_gives_the_default(self):
        assert read_number({}, "threshold", 0.5, low=0, high=1) == 0.5

    @pytest.mark.parametrize(
        "bad", [True, "high", None, [0.5], 1.5, -0.1, math.nan, math.inf, "nan"]
    )
    def test_bad_values_raise_naming_the_key(self, bad):
        with pytest.raises(MetricConfigurationError) as raised:
            read_number({"threshold": bad}, "threshold", 0.5, low=0, high=1)
        assert raised.value.key == "threshold"
        assert "'threshold'" in str(raised.value)
        assert isinstance(raised.value, ValueError)


class TestReadChoiceAndText:
    def test_choice_must_be_listed(self):
        assert read_choice({"kind": "b"}, "kind", "a", ("a", "b")) == "b"
        with pytest.raises(MetricConfigurationError, match="'kind'"):
            read_choice({"kind": "c"}, "kind", "a", ("a", "b"))

    @pytest.mark.parametrize("bad", ["", "   ", 3, None])
    def test_text_must_be_non_empty(self, bad):
        with pytest.raises(MetricConfigurationError, match="'rubric'"):
            read_text({"rubric": bad}, "rubric")

    def test_text_is_trimmed(self):
        assert read_text({"rubric": "  be kind \n"}, "rubric") == "be kind"


class TestCase:
    def test_configurations_are_a_read_only_copy(self):
        given = {"threshold": 0.5}
        case = Case("p", "a", None, given)
        given["threshold"] = 0.9
        assert case.configurations["threshold"] == 0.5
        with pytest.raises(TypeError):
            case.configurations["threshold"] = 1  # type: ignore[index]

    def test_a_missing_target_is_an_error_naming_target(self):
        with pytest.raises(MetricConfigurationError) as raised:
            Case("p", "a").require_target("exactstrmatch")
        assert raised.value.key == "target"
        assert "exactstrmatch" in str(raised.value)
