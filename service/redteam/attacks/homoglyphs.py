"""`homoglyph_attack` and `homoglyph_v2_attack`: letters replaced by characters drawn alike.

v1 makes one look-alike change per attack prompt (fool -> fooI), from the ASCII table, each a
different one; v2 replaces a growing share of the letters with Unicode look-alikes, from a few
letters in the first prompt to every letter it has one for in the last.
"""

import random
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.data_files import read_table

ASCII_LOOKALIKES = read_table("homoglyphs_ascii")
UNICODE_LOOKALIKES = read_table("homoglyphs_unicode")


def replaceable(prompt: str, table: Mapping[str, tuple[str, ...]]) -> list[int]:
    """Positions of the letters the table has a look-alike for."""
    return [i for i, char in enumerate(prompt) if char.isalpha() and char in table]


class Homoglyph(Perturbation):
    name = "homoglyph_attack"
    default_max_iteration = 20

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        variants = [
            (i, glyph)
            for i in replaceable(prompt, ASCII_LOOKALIKES)
            for glyph in ASCII_LOOKALIKES[prompt[i]]
        ]
        chosen = rng.sample(variants, min(count, len(variants)))
        return [prompt[:i] + glyph + prompt[i + 1:] for i, glyph in chosen]


class HomoglyphV2(Perturbation):
    name = "homoglyph_v2_attack"
    default_max_iteration = 20

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        positions = replaceable(prompt, UNICODE_LOOKALIKES)
        prompts = []
        for step in range(1, count + 1):
            # The share grows with each prompt, to find how much change the target tolerates.
            picked = max(1, round(len(positions) * step / count)) if positions else 0
            characters = list(prompt)
            for i in rng.sample(positions, picked):
                characters[i] = rng.choice(UNICODE_LOOKALIKES[prompt[i]])
            prompts.append("".join(characters))
        return prompts
