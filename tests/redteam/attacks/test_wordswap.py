"""`colloquial_wordswap_attack`: listed words only, each by one of its listed replacements."""

import re

from service.redteam.attacks.tokens import WORD
from service.redteam.attacks.wordswap import COLLOQUIAL, ColloquialWordswap

PROMPT = "Father said the police cannot eat here, you know. Why are we so scared?"


def allowed(prompt: str) -> re.Pattern[str]:
    """Matches exactly the prompts made from `prompt` by swapping listed words."""
    parts, position = [], 0
    for match in WORD.finditer(prompt):
        parts.append(re.escape(prompt[position:match.start()]))
        word = match.group()
        options = COLLOQUIAL.get(word.lower())
        if options is None:
            parts.append(re.escape(word))
        else:
            cased = [o[:1].upper() + o[1:] if word[:1].isupper() else o for o in options]
            parts.append("(?:" + "|".join(re.escape(option) for option in cased) + ")")
        position = match.end()
    parts.append(re.escape(prompt[position:]))
    return re.compile("".join(parts))


def test_the_list_ships_as_lower_case_words_with_replacements():
    assert len(COLLOQUIAL) >= 30
    for word, options in COLLOQUIAL.items():
        assert word == word.lower() and WORD.fullmatch(word)
        assert options and all(option.strip() for option in options)


def test_swaps_every_listed_word_and_nothing_else():
    prompts = ColloquialWordswap().attack_prompts(PROMPT, configurations={}, seed=5)
    pattern = allowed(PROMPT)
    for prompt in prompts:
        assert pattern.fullmatch(prompt), prompt
        assert "police" not in prompt and "Father" not in prompt
        # Words not on the list are kept.
        assert "said the" in prompt and "know." in prompt


def test_keeps_a_capital_at_the_start_of_a_sentence():
    prompts = ColloquialWordswap().attack_prompts("Why?", configurations={}, seed=2)
    assert all(prompt[0].isupper() for prompt in prompts)


def test_a_prompt_without_listed_words_stays_as_it_is():
    prompt = "Describe the chemistry of table salt."
    assert ColloquialWordswap().attack_prompts(
        prompt, configurations={"max_iteration": 3}, seed=1
    ) == [prompt] * 3
