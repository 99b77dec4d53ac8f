"""The registry: what has code, agreeing with the catalogue's names and defaults."""

import pytest

from models import RegistryKind
from service.redteam.attacks import ATTACK_MODULES, IMPLEMENTED, Generator, Pair, Perturbation
from service.redteam.catalogue import Needs, built_in

PERTURBATIONS = [
    "charswap_attack", "insert_punctuation_attack", "homoglyph_attack", "homoglyph_v2_attack",
    "colloquial_wordswap_attack", "payload_mask_attack", "sample_attack_module",
    "job_role_generator",
]
GENERATORS = [
    "malicious_question_generator", "toxic_sentence_generator", "sg_sentence_generator",
    "violent_durian",
]


def test_implements_every_catalogue_attack_module_but_the_embedding_ones():
    assert sorted(IMPLEMENTED) == sorted([*PERTURBATIONS, *GENERATORS, "pair"])
    assert "textbugger_attack" not in IMPLEMENTED
    assert "textfooler_attack" not in IMPLEMENTED
    assert set(ATTACK_MODULES) == IMPLEMENTED


def test_each_is_of_its_kind_and_says_whether_it_needs_an_attacker():
    for name in PERTURBATIONS:
        module = ATTACK_MODULES[name]
        assert isinstance(module, Perturbation) and not module.needs_attacker, name
    for name in GENERATORS:
        module = ATTACK_MODULES[name]
        assert isinstance(module, Generator) and module.needs_attacker, name
    assert isinstance(ATTACK_MODULES["pair"], Pair) and ATTACK_MODULES["pair"].needs_attacker


@pytest.mark.parametrize("name", sorted(IMPLEMENTED))
def test_is_in_the_catalogue_with_the_same_default_count(name):
    entry = built_in(RegistryKind.ATTACK_MODULE, name)
    assert entry is not None, name
    module = ATTACK_MODULES[name]
    expected = entry.configurations.get("max_iteration", module.default_max_iteration)
    assert module.max_iteration({}) == expected


def test_the_catalogue_gives_an_attacker_to_exactly_the_modules_that_need_one():
    for name, module in ATTACK_MODULES.items():
        entry = built_in(RegistryKind.ATTACK_MODULE, name)
        assert entry is not None
        assert (entry.needs is Needs.ATTACKER_ENDPOINT) is module.needs_attacker, name
        # Runnable: a run refuses to start until the module's endpoints name an attacker.
        assert entry.runnable, name


def test_cannot_be_changed():
    with pytest.raises(TypeError):
        ATTACK_MODULES["mine"] = ATTACK_MODULES["pair"]  # type: ignore[index]
