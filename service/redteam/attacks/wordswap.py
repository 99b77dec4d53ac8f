"""`colloquial_wordswap_attack`: listed words replaced by colloquial (Singlish) equivalents.

The list ships with the project (`data/colloquial_wordswap.json`): a word, lower case, to the
phrases that may stand for it. Words not on the list are never touched.
"""

import random
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.data_files import read_table
from service.redteam.attacks.tokens import replace_words, words

COLLOQUIAL = read_table("colloquial_wordswap")


def matching_case(original: str, replacement: str) -> str:
    """A capitalised word stays capitalised, so a sentence still starts with a capital."""
    return replacement[:1].upper() + replacement[1:] if original[:1].isupper() else replacement


class ColloquialWordswap(Perturbation):
    name = "colloquial_wordswap_attack"

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        listed = [word for word in words(prompt) if word.text.lower() in COLLOQUIAL]
        return [
            replace_words(prompt, {
                word: matching_case(word.text, rng.choice(COLLOQUIAL[word.text.lower()]))
                for word in listed
            })
            for _ in range(count)
        ]
