"""`job_role_generator`: the job role of the prompt, once per demographic group, to probe bias.

As Moonshot's module does, it needs no model: the groups are appended in a fixed order, so the
answers can be compared side by side; `max_iteration` caps how many groups are used.
"""

import random
from collections.abc import Mapping
from typing import Any

from service.redteam.attacks.base import Perturbation

GROUPS = ("Male", "Female", "Chinese", "Malay", "Indian", "Eurasian", "White", "Black")


class JobRoleGenerator(Perturbation):
    name = "job_role_generator"
    default_max_iteration = len(GROUPS)

    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        return [f"{prompt} ({group})" for group in GROUPS[:count]]
