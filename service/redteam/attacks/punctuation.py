"""`insert_punctuation_attack`: a punctuation mark put in front of some of the prompt's words."""

import random
import string
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.configuration import word_swap_ratio
from service.redteam.attacks.tokens import replace_words, share_of, words

PUNCTUATION = string.punctuation


class InsertPunctuation(Perturbation):
    name = "insert_punctuation_attack"

    def check(self, configurations: Mapping[str, Any]) -> None:
        super().check(configurations)
        word_swap_ratio(configurations)

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        ratio = word_swap_ratio(configurations)
        every_word = words(prompt)
        picked = share_of(len(every_word), ratio)
        return [
            replace_words(prompt, {
                word: rng.choice(PUNCTUATION) + word.text
                for word in rng.sample(every_word, picked)
            })
            for _ in range(count)
        ]
