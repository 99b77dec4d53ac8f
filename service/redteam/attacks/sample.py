"""`sample_attack_module`: the prompt as it is, to try the run pipeline end to end."""

import random
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation


class SampleAttack(Perturbation):
    name = "sample_attack_module"
    # Moonshot's sample sends the prompt once; a run can still ask for more copies.
    default_max_iteration = 1

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        return [prompt] * count
