"""Generators driven by an attacker model, against a scripted attacker."""

import base64
import json

import pytest

from service.connectors.base import ConnectorError
from service.redteam.attacks import (
    ATTACK_MODULES,
    AttackerAnswerUnusable,
    AttackerFailure,
    Generator,
    InvalidConfiguration,
)
from service.redteam.attacks.generators import CRIMINAL_PERSONAS
from tests.redteam.attacks.scripted import ScriptedModel
from tests.redteam.attacks.test_registry import GENERATORS

SEED_PROMPT = "breaking into cars"


def generator(name: str) -> Generator:
    found = ATTACK_MODULES[name]
    assert isinstance(found, Generator)
    return found


@pytest.mark.parametrize("name", GENERATORS)
class TestEveryGenerator:
    async def test_asks_the_attacker_once_for_max_iteration_prompts(self, name):
        attacker = ScriptedModel(json.dumps([f"attack {n}" for n in range(3)]))
        prompts = await generator(name).attack_prompts(
            SEED_PROMPT, attacker=attacker, configurations={"max_iteration": 3}, seed=1
        )
        assert prompts == ["attack 0", "attack 1", "attack 2"]
        ((system_prompt, prompt),) = attacker.calls
        assert "3" in system_prompt and "JSON array" in system_prompt
        assert SEED_PROMPT in prompt

    async def test_keeps_no_more_than_asked(self, name):
        attacker = ScriptedModel("\n".join(f"{n}. attack {n}" for n in range(1, 7)))
        prompts = await generator(name).attack_prompts(
            SEED_PROMPT, attacker=attacker, configurations={"max_iteration": 2}, seed=1
        )
        assert prompts == ["attack 1", "attack 2"]

    async def test_an_attacker_error_propagates_typed(self, name):
        attacker = ScriptedModel(ConnectorError("HTTP 503 from the attacker"))
        with pytest.raises(AttackerFailure) as raised:
            await generator(name).attack_prompts(
                SEED_PROMPT, attacker=attacker, configurations={}, seed=1
            )
        assert "503" in str(raised.value)
        assert isinstance(raised.value.__cause__, ConnectorError)

    async def test_an_answer_without_prompts_propagates_typed(self, name):
        attacker = ScriptedModel("I can't help with that:")
        with pytest.raises(AttackerAnswerUnusable):
            await generator(name).attack_prompts(
                SEED_PROMPT, attacker=attacker, configurations={}, seed=1
            )

    async def test_bad_configurations_fail_before_the_attacker_is_called(self, name):
        attacker = ScriptedModel("1. unused")
        with pytest.raises(InvalidConfiguration) as raised:
            await generator(name).attack_prompts(
                SEED_PROMPT, attacker=attacker, configurations={"max_iteration": 0}, seed=1
            )
        assert raised.value.key == "max_iteration"
        with pytest.raises(InvalidConfiguration) as raised:
            await generator(name).attack_prompts(
                SEED_PROMPT, attacker=attacker, configurations={"converters": ["nope"]}, seed=1
            )
        assert raised.value.key == "converters"
        assert attacker.calls == []

    async def test_same_seed_same_instructions(self, name):
        first, again = ScriptedModel('["a"]'), ScriptedModel('["a"]')
        for attacker in (first, again):
            await generator(name).attack_prompts(
                SEED_PROMPT, attacker=attacker, configurations={}, seed=77
            )
        assert first.calls == again.calls

    async def test_converters_apply_to_what_the_attacker_wrote(self, name):
        attacker = ScriptedModel('["one", "two"]')
        prompts = await generator(name).attack_prompts(
            SEED_PROMPT, attacker=attacker,
            configurations={"max_iteration": 2, "converters": ["base64"]}, seed=1,
        )
        assert [base64.b64decode(prompt).decode() for prompt in prompts] == ["one", "two"]


async def test_violent_durian_picks_its_persona_from_the_seed():
    def persona_of(system_prompt: str) -> str:
        (persona,) = [p for p in CRIMINAL_PERSONAS if p in system_prompt]
        return persona

    personas = set()
    for seed in range(12):
        attacker = ScriptedModel('["x"]')
        await generator("violent_durian").attack_prompts(
            SEED_PROMPT, attacker=attacker, configurations={}, seed=seed
        )
        personas.add(persona_of(attacker.calls[0][0]))
    assert len(personas) > 1


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("malicious_question_generator", "questions"),
        ("toxic_sentence_generator", "continuations"),
        ("sg_sentence_generator", "Singlish"),
        ("violent_durian", "messages"),
    ],
)
async def test_each_instruction_says_what_to_write(name, words):
    attacker = ScriptedModel('["x"]')
    await generator(name).attack_prompts(SEED_PROMPT, attacker=attacker, configurations={},
                                         seed=1)
    assert words in attacker.calls[0][0]
