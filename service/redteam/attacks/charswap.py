"""`charswap_attack`: typos made by swapping two neighbouring letters inside longer words."""

import random
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.configuration import word_swap_ratio
from service.redteam.attacks.tokens import Word, replace_words, share_of, words

# Words of 3 letters or fewer are left alone: a swap there reads as another word, not a typo.
MIN_LENGTH = 4


def swap_positions(word: str) -> list[int]:
    """Where an inner pair can swap to a different word: i and i+1, neither the first nor the
    last letter, the two letters not the same."""
    return [i for i in range(1, len(word) - 2) if word[i] != word[i + 1]]


def swap_at(word: str, i: int) -> str:
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class CharSwap(Perturbation):
    name = "charswap_attack"

    def check(self, configurations: Mapping[str, Any]) -> None:
        super().check(configurations)
        word_swap_ratio(configurations)

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        ratio = word_swap_ratio(configurations)
        every_word = words(prompt)
        candidates = [
            word for word in every_word
            if len(word.text) >= MIN_LENGTH and swap_positions(word.text)
        ]
        # The ratio is a share of all the prompt's words; only the candidates can change.
        picked = min(len(candidates), share_of(len(every_word), ratio))
        return [self._one(prompt, candidates, picked, rng) for _ in range(count)]

    @staticmethod
    def _one(prompt: str, candidates: list[Word], picked: int, rng: random.Random) -> str:
        changes = {
            word: swap_at(word.text, rng.choice(swap_positions(word.text)))
            for word in rng.sample(candidates, picked)
        }
        return replace_words(prompt, changes)
