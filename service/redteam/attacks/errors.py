"""What an attack module raises: bad settings, an attacker or judge without a usable answer."""


class AttackError(Exception):
    """Base of the errors an attack run records against its module."""


class InvalidConfiguration(AttackError, ValueError):
    """A configuration value the module cannot use; `key` names it for the caller's message."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class AttackerFailure(AttackError):
    """The attacker endpoint gave no answer (its connector failed)."""


class AttackerAnswerUnusable(AttackerFailure):
    """The attacker answered, but nothing in the answer is an attack prompt."""


class JudgeFailure(AttackError):
    """The judge gave no answer, or one without a score we can read; never turned into a score."""
