"""The built-in catalogue: Moonshot's standard names, each saying whether it can run here."""

import json

import pytest

from models import RegistryKind
from service.redteam.attacks.registry import IMPLEMENTED as ATTACKS_IMPLEMENTED
from service.redteam.catalogue import (
    BUILT_INS,
    NOT_IMPLEMENTED,
    Needs,
    built_in,
    built_ins_of,
)
from service.redteam.context_strategies import CONTEXT_STRATEGIES
from service.redteam.metrics.registry import IMPLEMENTED as METRICS_IMPLEMENTED

# The names the drop-in issue lists: moonshot-data's standard metrics, attack modules and
# context strategies.
MOONSHOT_METRICS = [
    "advglue", "answercarefully-annotator", "answercorrectness", "answerrelevance", "bertscore",
    "bleuscore", "contextprecision", "contextrecall", "cybersecevalannotator",
    "cybersecevalannotator2", "entity_processor", "exactstrmatch", "exactstrmatch-f1-squad-v2",
    "exactstrmatch-gsm8k-test", "faithfulness", "flagjudgeannotator", "genderbias_metric",
    "gpt4annotator", "leakagerate", "lionguardclassifier", "llamaguardannotator",
    "mlcipv-annotator", "mlcncr-annotator", "mlcprv-annotator", "mlcvcr-annotator",
    "nudenet_metric", "q16_metric", "readabilityscore", "refusal", "relaxstrmatch",
    "reverseexactstrmatch", "rougescorer", "samplemetric", "spelling", "toxicity-classifier",
]
# Metrics the project adds to Moonshot's.
OWN_METRICS = ["llm-judge"]
BUILT_IN_METRICS = [*MOONSHOT_METRICS, *OWN_METRICS]
MOONSHOT_ATTACK_MODULES = [
    "charswap_attack", "colloquial_wordswap_attack", "homoglyph_attack", "homoglyph_v2_attack",
    "insert_punctuation_attack", "job_role_generator", "malicious_question_generator",
    "payload_mask_attack", "sample_attack_module", "sg_sentence_generator", "textbugger_attack",
    "textfooler_attack", "toxic_sentence_generator", "violent_durian",
]
# Ours, beyond Moonshot's: listed beside its attack modules.
OWN_ATTACK_MODULES = ["pair"]
BUILT_IN_ATTACK_MODULES = [*MOONSHOT_ATTACK_MODULES, *OWN_ATTACK_MODULES]
MOONSHOT_CONTEXT_STRATEGIES = ["add_previous_prompt"]
MOONSHOT_CATALOGUE = [
    *((RegistryKind.METRIC, name) for name in MOONSHOT_METRICS),
    *((RegistryKind.ATTACK_MODULE, name) for name in MOONSHOT_ATTACK_MODULES),
    *((RegistryKind.CONTEXT_STRATEGY, name) for name in MOONSHOT_CONTEXT_STRATEGIES),
]
REASONS = {NOT_IMPLEMENTED, *(needs.value for needs in Needs)}


class TestTheCatalogue:
    @pytest.mark.parametrize(("kind", "name"), MOONSHOT_CATALOGUE)
    def test_holds_every_standard_name(self, kind, name):
        entry = built_in(kind, name)
        assert entry is not None
        assert entry.description and entry.display_name

    @pytest.mark.parametrize(
        ("kind", "names"),
        [
            (RegistryKind.METRIC, BUILT_IN_METRICS),
            (RegistryKind.ATTACK_MODULE, BUILT_IN_ATTACK_MODULES),
            (RegistryKind.CONTEXT_STRATEGY, MOONSHOT_CONTEXT_STRATEGIES),
        ],
    )
    def test_holds_nothing_else_of_those_kinds(self, kind, names):
        assert sorted(entry.name for entry in built_ins_of(kind)) == sorted(names)

    def test_keeps_the_prompt_templates(self):
        names = [entry.name for entry in built_ins_of(RegistryKind.PROMPT_TEMPLATE)]
        assert names == ["answer-template", "mcq-template", "complete-sentence"]
        assert all("{{ prompt }}" in entry.template for entry in BUILT_INS if entry.template)

    def test_names_are_unique_per_kind(self):
        keys = [(entry.kind, entry.name) for entry in BUILT_INS]
        assert len(keys) == len(set(keys))

    def test_a_name_of_one_kind_is_not_found_under_another(self):
        assert built_in(RegistryKind.METRIC, "charswap_attack") is None
        assert built_in(RegistryKind.ATTACK_MODULE, "nowhere") is None

    def test_defaults_are_moonshots_and_json(self):
        durian = built_in(RegistryKind.ATTACK_MODULE, "violent_durian")
        assert durian is not None
        assert (durian.title, durian.endpoints) == ("Violent Durian", ("openai-gpt4",))
        assert dict(durian.configurations) == {"max_iteration": 10}
        for entry in BUILT_INS:
            json.dumps({"endpoints": entry.endpoints, "configurations": dict(entry.configurations)})

    def test_defaults_cannot_be_changed_in_place(self):
        entry = built_in(RegistryKind.METRIC, "samplemetric")
        assert entry is not None
        with pytest.raises(TypeError):
            entry.configurations["threshold_value"] = "1"  # type: ignore[index]


class TestRunnable:
    @pytest.mark.parametrize("entry", BUILT_INS, ids=lambda entry: f"{entry.kind}:{entry.name}")
    def test_runnable_exactly_when_there_is_no_reason(self, entry):
        assert entry.runnable is (entry.reason == "")
        assert entry.runnable or entry.reason in REASONS

    def test_prompt_templates_and_the_context_strategy_with_code_run(self):
        for kind in (RegistryKind.PROMPT_TEMPLATE, RegistryKind.CONTEXT_STRATEGY):
            assert all(entry.runnable for entry in built_ins_of(kind))
        assert set(CONTEXT_STRATEGIES) == set(MOONSHOT_CONTEXT_STRATEGIES)

    def test_exactly_the_attack_modules_and_metrics_with_code_run(self):
        runnable = {
            (entry.kind, entry.name)
            for kind in (RegistryKind.ATTACK_MODULE, RegistryKind.METRIC)
            for entry in built_ins_of(kind) if entry.runnable
        }
        assert runnable == {
            *((RegistryKind.ATTACK_MODULE, name) for name in ATTACKS_IMPLEMENTED),
            *((RegistryKind.METRIC, name) for name in METRICS_IMPLEMENTED),
        }

    @pytest.mark.parametrize(
        ("kind", "name"),
        [
            (RegistryKind.METRIC, "gpt4annotator"),
            (RegistryKind.METRIC, "llm-judge"),
            (RegistryKind.METRIC, "exactstrmatch"),
            (RegistryKind.ATTACK_MODULE, "malicious_question_generator"),
            (RegistryKind.ATTACK_MODULE, "pair"),
            (RegistryKind.ATTACK_MODULE, "charswap_attack"),
        ],
    )
    def test_modules_with_code_run(self, kind, name):
        entry = built_in(kind, name)
        assert entry is not None
        assert (entry.runnable, entry.reason) == (True, "")

    @pytest.mark.parametrize(
        ("kind", "name", "reason"),
        [
            # Judged by an endpoint, but without code here yet.
            (RegistryKind.METRIC, "faithfulness", NOT_IMPLEMENTED),
            (RegistryKind.METRIC, "advglue", NOT_IMPLEMENTED),
            (RegistryKind.METRIC, "bertscore", "needs a local model"),
            (RegistryKind.METRIC, "toxicity-classifier", "needs a local model"),
            (RegistryKind.ATTACK_MODULE, "textfooler_attack", "needs a word-embedding model"),
            (RegistryKind.ATTACK_MODULE, "textbugger_attack", "needs a word-embedding model"),
        ],
    )
    def test_says_why_not(self, kind, name, reason):
        entry = built_in(kind, name)
        assert entry is not None
        assert (entry.runnable, entry.reason) == (False, reason)
