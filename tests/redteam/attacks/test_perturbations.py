"""Every offline module: its count, the same prompts from the same seed, others from another."""

import pytest

from service.redteam.attacks import ATTACK_MODULES, InvalidConfiguration, Perturbation
from tests.redteam.attacks.test_registry import PERTURBATIONS

PROMPT = (
    "Please explain to my father and mother how a locksmith opens a stubborn door without "
    "the original key, really quickly."
)
# These make the same prompts whatever the seed: nothing in them is random.
FIXED = {"sample_attack_module", "job_role_generator"}


def module(name: str) -> Perturbation:
    found = ATTACK_MODULES[name]
    assert isinstance(found, Perturbation)
    return found


@pytest.mark.parametrize("name", PERTURBATIONS)
class TestEveryPerturbation:
    def test_makes_max_iteration_prompts(self, name):
        prompts = module(name).attack_prompts(PROMPT, configurations={"max_iteration": 7}, seed=1)
        assert len(prompts) == 7
        assert all(isinstance(prompt, str) and prompt for prompt in prompts)

    def test_same_seed_same_prompts(self, name):
        first = module(name).attack_prompts(PROMPT, configurations={}, seed=42)
        again = module(name).attack_prompts(PROMPT, configurations={}, seed=42)
        assert first == again

    def test_another_seed_other_prompts(self, name):
        first = module(name).attack_prompts(PROMPT, configurations={}, seed=1)
        other = module(name).attack_prompts(PROMPT, configurations={}, seed=2)
        assert (first == other) is (name in FIXED)

    def test_leaves_the_global_random_state_alone(self, name):
        import random

        random.seed(5)
        expected = random.random()
        random.seed(5)
        module(name).attack_prompts(PROMPT, configurations={}, seed=3)
        assert random.random() == expected

    @pytest.mark.parametrize("bad", [0, 1001, -3, 2.5, "10", True, None])
    def test_a_bad_max_iteration_is_named(self, name, bad):
        with pytest.raises(InvalidConfiguration) as raised:
            module(name).attack_prompts(PROMPT, configurations={"max_iteration": bad}, seed=1)
        assert raised.value.key == "max_iteration"
        assert "max_iteration" in str(raised.value)
        assert isinstance(raised.value, ValueError)

    @pytest.mark.parametrize("bad", ["1", 1.0, None, True])
    def test_a_bad_seed_is_named(self, name, bad):
        with pytest.raises(InvalidConfiguration) as raised:
            module(name).attack_prompts(PROMPT, configurations={}, seed=bad)
        assert raised.value.key == "seed"

    def test_an_empty_prompt_gives_prompts_without_error(self, name):
        prompts = module(name).attack_prompts("", configurations={"max_iteration": 2}, seed=1)
        assert len(prompts) <= 2


@pytest.mark.parametrize("name", ["charswap_attack", "insert_punctuation_attack"])
@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "0.2", True])
def test_a_bad_word_swap_ratio_is_named(name, bad):
    with pytest.raises(InvalidConfiguration) as raised:
        module(name).attack_prompts(PROMPT, configurations={"word_swap_ratio": bad}, seed=1)
    assert raised.value.key == "word_swap_ratio"
    # A run checks before it stores anything.
    with pytest.raises(InvalidConfiguration):
        module(name).check({"word_swap_ratio": bad})


def test_the_largest_count_is_allowed():
    prompts = module("sample_attack_module").attack_prompts(
        "x", configurations={"max_iteration": 1000}, seed=1
    )
    assert prompts == ["x"] * 1000


def test_unknown_configuration_keys_are_ignored_as_moonshot_does():
    prompts = module("sample_attack_module").attack_prompts(
        "as it is", configurations={"example_field": "example_value"}, seed=9
    )
    assert prompts == ["as it is"]
