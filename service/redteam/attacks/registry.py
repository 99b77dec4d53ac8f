"""Every attack module this deployment has code for, by the name sessions give it."""

from collections.abc import Mapping
from types import MappingProxyType

from service.redteam.attacks.base import AttackModule
from service.redteam.attacks.charswap import CharSwap
from service.redteam.attacks.generators import (
    MaliciousQuestions,
    SingaporeSentences,
    ToxicSentences,
    ViolentDurian,
)
from service.redteam.attacks.homoglyphs import Homoglyph, HomoglyphV2
from service.redteam.attacks.job_roles import JobRoleGenerator
from service.redteam.attacks.pair import Pair
from service.redteam.attacks.payload_mask import PayloadMask
from service.redteam.attacks.punctuation import InsertPunctuation
from service.redteam.attacks.sample import SampleAttack
from service.redteam.attacks.wordswap import ColloquialWordswap

_MODULES: tuple[AttackModule, ...] = (
    CharSwap(), InsertPunctuation(), Homoglyph(), HomoglyphV2(), ColloquialWordswap(),
    PayloadMask(), SampleAttack(), JobRoleGenerator(),
    MaliciousQuestions(), ToxicSentences(), SingaporeSentences(), ViolentDurian(),
    Pair(),
)
ATTACK_MODULES: Mapping[str, AttackModule] = MappingProxyType(
    {module.name: module for module in _MODULES}
)
# The names the run machinery can mark runnable in the catalogue (`RUNNABLE_MODULES`).
IMPLEMENTED: frozenset[str] = frozenset(ATTACK_MODULES)
