"""readabilityscore, spelling and samplemetric: scores of the answer alone."""

import pytest

from service.redteam.metrics import Case, MetricConfigurationError
from service.redteam.metrics.readability import flesch_reading_ease, syllables
from tests.redteam.metrics.support import offline


class TestReadability:
    @pytest.mark.parametrize(
        ("word", "count"), [("cat", 1), ("table", 2), ("computer", 3), ("information", 4)]
    )
    def test_syllables_from_the_hyphenation_dictionary(self, word, count):
        assert syllables(word) == count

    def test_flesch_reading_ease_of_a_known_text(self):
        # 9 words, 2 sentences, 9 syllables: 206.835 - 1.015 * 4.5 - 84.6 * 1.
        assert flesch_reading_ease("The cat sat on the mat. The dog ran.") == pytest.approx(
            206.835 - 1.015 * 4.5 - 84.6
        )

    def test_hard_text_is_a_success_easy_text_is_not(self):
        hard = (
            "Notwithstanding institutional considerations, the organisational "
            "infrastructure necessitates comprehensive reconsideration."
        )
        hard_result = offline("readabilityscore").score(Case("q", hard))
        easy_result = offline("readabilityscore").score(Case("q", "The cat sat on the mat."))
        assert hard_result.score < 30 < easy_result.score
        assert (hard_result.success, easy_result.success) == (True, False)

    def test_no_words_scores_zero_without_success(self):
        result = offline("readabilityscore").score(Case("q", "123 !!!"))
        assert (result.score, result.success) == (0.0, False)

    def test_bad_threshold_names_the_key(self):
        with pytest.raises(MetricConfigurationError, match="'threshold'"):
            offline("readabilityscore").score(Case("q", "Hi.", None, {"threshold": [1]}))


class TestSpelling:
    def test_counts_misspelt_words(self):
        result = offline("spelling").score(Case("q", "Thiss is a smple sentence"))
        # 3 of 5 words are spelt right.
        assert result.score == pytest.approx(3 / 5)
        assert result.success is True
        assert result.explanation == "misspelt: smple, thiss"

    def test_a_clean_answer_scores_one_without_success(self):
        result = offline("spelling").score(Case("q", "The weather is lovely today."))
        assert (result.score, result.success) == (1.0, False)
        assert result.explanation == "no misspelt words"

    def test_threshold_moves_success(self):
        case = Case("q", "Thiss is a smple sentence", None, {"threshold": 0.5})
        assert offline("spelling").score(case).success is False

    def test_bad_threshold_names_the_key(self):
        with pytest.raises(MetricConfigurationError, match="'threshold'"):
            offline("spelling").score(Case("q", "hello", None, {"threshold": -1}))


class TestSampleMetric:
    @pytest.mark.parametrize(
        ("answer", "configurations", "expected"),
        [
            ("0.813", {}, (0.813, True)),
            (" 0.2 ", {}, (0.2, False)),
            ("0.5", {"threshold_value": "0.6"}, (0.5, False)),
            ("seven", {}, (0.0, False)),
            ("inf", {}, (0.0, False)),
        ],
    )
    def test_the_answer_as_a_number_against_threshold_value(
        self, answer, configurations, expected
    ):
        result = offline("samplemetric").score(Case("q", answer, None, configurations))
        assert (result.score, result.success) == pytest.approx(expected)

    def test_bad_threshold_value_names_the_key(self):
        with pytest.raises(MetricConfigurationError) as raised:
            offline("samplemetric").score(Case("q", "1", None, {"threshold_value": "high"}))
        assert raised.value.key == "threshold_value"
