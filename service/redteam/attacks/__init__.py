"""Attack modules: pure code that turns a seed prompt into attack prompts, handed its
configurations, a seed and, where it needs one, an attacker (or judge) callable."""

from service.redteam.attacks.base import Attacker, AttackModule, Generator, Perturbation
from service.redteam.attacks.converters import CONVERTER_FUNCTIONS, apply_converters
from service.redteam.attacks.errors import (
    AttackerAnswerUnusable,
    AttackerFailure,
    AttackError,
    InvalidConfiguration,
    JudgeFailure,
)
from service.redteam.attacks.judge import JudgeVerdict, parse_judge_answer
from service.redteam.attacks.pair import Pair, PairSettings, Proposal
from service.redteam.attacks.registry import ATTACK_MODULES, IMPLEMENTED

__all__ = [
    "ATTACK_MODULES",
    "CONVERTER_FUNCTIONS",
    "IMPLEMENTED",
    "AttackError",
    "AttackModule",
    "Attacker",
    "AttackerAnswerUnusable",
    "AttackerFailure",
    "Generator",
    "InvalidConfiguration",
    "JudgeFailure",
    "JudgeVerdict",
    "Pair",
    "PairSettings",
    "Perturbation",
    "Proposal",
    "apply_converters",
    "parse_judge_answer",
]
