"""A `charswap_attack` for Moonshot, written for the benchmarks from its description.

Moonshot's own module (in moonshot-data, not in its package) swaps two neighbouring characters
inside a share (`word_swap_ratio`, default 0.2) of the prompt's words longer than 3 characters,
`max_iteration` times (default 10), and sends each new prompt to every endpoint through the
attack module base class's `_send_prompt_to_all_llm`, one prompt and one endpoint at a time.
This one does the same, with the same configuration keys read from Moonshot's
`attack_modules_config.json`; it splits words with a regular expression instead of NLTK (which
Moonshot's package does not install), which costs microseconds either way.

Moonshot loads the first class of this file whose module is `charswap_attack`: keep it the only
class here.
"""

import math
import random
import re

from moonshot.src.redteaming.attack.attack_module import AttackModule

DEFAULT_MAX_ITERATION = 10
DEFAULT_WORD_SWAP_RATIO = 0.2
# Words and the single non-space characters between them, as a word tokenizer splits them.
TOKENS = re.compile(r"\w+|[^\w\s]")


def _swapped(word: str, rng: random.Random) -> str:
    """`word` with one inner character swapped with the next one."""
    left = rng.randint(1, len(word) - 2)
    return word[:left] + word[left + 1] + word[left] + word[left + 2:]


def _perturbed(prompt: str, ratio: float, rng: random.Random) -> str:
    tokens = TOKENS.findall(prompt)
    count = min(len(tokens), math.ceil(len(tokens) * ratio))
    for index in rng.sample(range(len(tokens)), count):
        if len(tokens[index]) > 3 and tokens[index].isalnum():
            tokens[index] = _swapped(tokens[index], rng)
    return " ".join(tokens)


class CharSwapAttack(AttackModule):
    def __init__(self, am_id: str, am_arguments=None) -> None:
        super().__init__(am_id, am_arguments)
        self.name = "Character Swap Attack"
        self.description = (
            "Swaps two neighbouring characters in words longer than 3 characters "
            "(written for Sparring's benchmarks)."
        )

    def get_metadata(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "endpoints": self.req_and_config.get("endpoints", []),
            "configurations": self.req_and_config.get("configurations", {}),
        }

    async def execute(self) -> list:
        self.load_modules()
        configurations = self.req_and_config.get("configurations", {})
        iterations = configurations.get("max_iteration", DEFAULT_MAX_ITERATION)
        ratio = configurations.get("word_swap_ratio", DEFAULT_WORD_SWAP_RATIO)
        rng = random.Random(configurations.get("seed", 0))
        answers = []
        for _ in range(iterations):
            if self.cancel_event.is_set():
                break
            answers.append(
                await self._send_prompt_to_all_llm([_perturbed(self.prompt, ratio, rng)])
            )
        return answers
