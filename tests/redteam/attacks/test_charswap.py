"""`charswap_attack`: only words longer than 3 letters, each by one swap of inner neighbours."""

from service.redteam.attacks.charswap import CharSwap, swap_positions
from service.redteam.attacks.tokens import words

PROMPT = "How can an old man find his lost keys in the dark, quickly and quietly?"


def one_adjacent_inner_swap(original: str, changed: str) -> bool:
    if len(original) != len(changed) or original == changed:
        return False
    differing = [i for i, (a, b) in enumerate(zip(original, changed, strict=True)) if a != b]
    if len(differing) != 2:
        return False
    i, j = differing
    return (
        j == i + 1 and i > 0 and j < len(original) - 1
        and original[i] == changed[j] and original[j] == changed[i]
    )


def test_changes_only_long_words_by_one_adjacent_inner_swap():
    prompts = CharSwap().attack_prompts(
        PROMPT, configurations={"max_iteration": 50, "word_swap_ratio": 0.5}, seed=7
    )
    original = [word.text for word in words(PROMPT)]
    changed_any = False
    for prompt in prompts:
        new = [word.text for word in words(prompt)]
        assert len(new) == len(original)
        # Everything between the words is kept as it was.
        assert prompt.replace(" ", "") != "" and len(prompt) == len(PROMPT)
        for before, after in zip(original, new, strict=True):
            if before != after:
                changed_any = True
                assert len(before) > 3
                assert one_adjacent_inner_swap(before, after), (before, after)
    assert changed_any


def test_changes_the_configured_share_of_words():
    # 16 words at 0.25 -> 4 changed in each prompt.
    prompts = CharSwap().attack_prompts(
        PROMPT, configurations={"max_iteration": 10, "word_swap_ratio": 0.25}, seed=3
    )
    original = [word.text for word in words(PROMPT)]
    for prompt in prompts:
        new = [word.text for word in words(prompt)]
        assert sum(a != b for a, b in zip(original, new, strict=True)) == 4


def test_a_prompt_of_short_words_stays_as_it_is():
    prompts = CharSwap().attack_prompts("Is it ok to go?", configurations={}, seed=1)
    assert prompts == ["Is it ok to go?"] * 10


def test_a_word_whose_inner_letters_are_all_alike_is_not_a_candidate():
    assert swap_positions("book") == []
    assert CharSwap().attack_prompts("book", configurations={"max_iteration": 3}, seed=1) == [
        "book"
    ] * 3
    assert swap_positions("word") == [1]
