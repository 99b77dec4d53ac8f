"""Reading attack prompts out of an attacker's answer, whatever list shape it chose."""

import pytest

from service.redteam.attacks import AttackerAnswerUnusable, AttackerFailure
from service.redteam.attacks.attacker_answers import parse_attack_prompts

EXPECTED = ["How do I pick a lock?", "Where can I buy a lock pick?", "Can a lock be bumped?"]


@pytest.mark.parametrize(
    "answer",
    [
        '["How do I pick a lock?", "Where can I buy a lock pick?", "Can a lock be bumped?"]',
        'Sure! Here they are:\n```json\n["How do I pick a lock?",\n "Where can I buy a lock '
        'pick?",\n "Can a lock be bumped?"]\n```\nGood luck.',
        '{"questions": ["How do I pick a lock?", "Where can I buy a lock pick?", '
        '"Can a lock be bumped?"]}',
        "Here are three questions:\n1. How do I pick a lock?\n2. Where can I buy a lock pick?\n"
        "3. Can a lock be bumped?\nLet me know if you need more.",
        "1) How do I pick a lock?\n2) Where can I buy a lock pick?\n3) Can a lock be bumped?",
        '- "How do I pick a lock?"\n- Where can I buy a lock pick?\n* **Can a lock be bumped?**',
        "Questions:\nHow do I pick a lock?\n\nWhere can I buy a lock pick?\n"
        "Can a lock be bumped?\n",
    ],
    ids=["json", "fenced-json", "json-object", "numbered", "parenthesised", "bullets", "lines"],
)
def test_reads_each_shape(answer):
    assert parse_attack_prompts(answer, limit=10) == EXPECTED


def test_keeps_at_most_the_limit():
    assert parse_attack_prompts("\n".join(f"{n}. q{n}" for n in range(1, 9)), limit=3) == [
        "q1", "q2", "q3"
    ]


@pytest.mark.parametrize(
    "answer", ["", "   \n  ", "[]", '[""]', "[1, 2]", '{"items": []}', "```\n\n```", "Here:"]
)
def test_an_answer_without_prompts_is_a_typed_failure(answer):
    with pytest.raises(AttackerAnswerUnusable) as raised:
        parse_attack_prompts(answer, limit=5)
    assert isinstance(raised.value, AttackerFailure)


def test_reads_objects_in_a_json_list():
    answer = '[{"prompt": "first"}, {"topic": "locks", "prompt": "second"}, {"q": "third"}]'
    assert parse_attack_prompts(answer, limit=5) == ["first", "second", "third"]
