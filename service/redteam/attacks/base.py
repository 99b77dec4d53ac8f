"""The interface every attack module offers the run machinery.

Three kinds: a perturbation turns the seed prompt into attack prompts offline; a generator asks
an attacker model for them; an iterative module (`pair`) exchanges rounds with attacker, target
and judge, and offers the pure steps of each round. All of them are handed what they need
(configurations, a seed, an attacker callable) and keep nothing between calls.
"""

import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from service.connectors.base import ConnectorError
from service.redteam.attacks.configuration import (
    DEFAULT_MAX_ITERATION,
    max_iteration,
    seed_value,
)
from service.redteam.attacks.converters import apply_converters, converter_names
from service.redteam.attacks.errors import AttackerFailure

# Calls the attacker endpoint: (system prompt, prompt) -> its answer. Raises `ConnectorError`
# when the endpoint gives no answer, as every endpoint call does.
Attacker = Callable[[str, str], Awaitable[str]]


async def ask_attacker(attacker: Attacker, system_prompt: str, prompt: str) -> str:
    """The attacker's answer; its endpoint failing becomes `AttackerFailure`, which a run
    records against the module."""
    try:
        return await attacker(system_prompt, prompt)
    except ConnectorError as error:
        raise AttackerFailure(f"the attacker endpoint gave no answer: {error}") from error


class AttackModule(ABC):
    name: ClassVar[str]
    needs_attacker: ClassVar[bool] = False
    # Used when the configurations leave `max_iteration` out; Moonshot's default where it has one.
    default_max_iteration: ClassVar[int] = DEFAULT_MAX_ITERATION

    def max_iteration(self, configurations: Mapping[str, Any]) -> int:
        return max_iteration(configurations, default=self.default_max_iteration)

    def check(self, configurations: Mapping[str, Any]) -> None:
        """Raises `InvalidConfiguration` for a value the module cannot use, before a run starts."""
        self.max_iteration(configurations)
        converter_names(configurations)


class Perturbation(AttackModule):
    """Offline: the same seed prompt, configurations and seed give the same attack prompts."""

    def attack_prompts(
        self, seed_prompt: str, *, configurations: Mapping[str, Any], seed: int
    ) -> list[str]:
        self.check(configurations)
        rng = random.Random(seed_value(seed))
        prompts = self.perturb(
            seed_prompt, rng=rng, count=self.max_iteration(configurations),
            configurations=configurations,
        )
        return apply_converters(prompts, configurations)

    @abstractmethod
    def perturb(
        self, prompt: str, *, rng: random.Random, count: int, configurations: Mapping[str, Any]
    ) -> list[str]:
        """`count` attack prompts (fewer only where the module has fewer to make)."""


class Generator(AttackModule):
    """Asks an attacker model for the attack prompts once; the run stores what it gets, so a
    resumed run does not ask again."""

    needs_attacker = True

    async def attack_prompts(
        self,
        seed_prompt: str,
        *,
        attacker: Attacker,
        configurations: Mapping[str, Any],
        seed: int,
    ) -> list[str]:
        self.check(configurations)
        prompts = await self.generate(
            seed_prompt, attacker=attacker, rng=random.Random(seed_value(seed)),
            count=self.max_iteration(configurations),
        )
        return apply_converters(prompts, configurations)

    @abstractmethod
    async def generate(
        self, seed_prompt: str, *, attacker: Attacker, rng: random.Random, count: int
    ) -> list[str]:
        """At most `count` attack prompts, at least one, or `AttackerFailure`."""
