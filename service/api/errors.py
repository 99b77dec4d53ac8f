"""Domain errors. They subclass what Moonshot raises, so Python callers keep its types.

No HTTP here: `service.http.errors` maps each class to a status once.
"""


class SparringError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(SparringError, RuntimeError):
    """The thing asked for does not exist (in the caller's workspace)."""


class InvalidInput(SparringError, ValueError):
    """An argument is wrong; `field` names it when one field is to blame."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidFile(InvalidInput):
    """A file handed in whole (a session export to import) is not what it should be; the
    message names the line and what is wrong with it."""


class Conflict(SparringError, RuntimeError):
    """The change clashes with what exists (a duplicate, or something still in use)."""


class Forbidden(SparringError, PermissionError):
    """The caller may not do this."""


class Unauthenticated(SparringError, PermissionError):
    """No usable credentials: none given, or an unknown, revoked or expired key.

    `challenge` names the scheme the caller should authenticate with ("Bearer"), when the
    answer is to ask for credentials.
    """

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge


class Stale(Conflict):
    """The thing changed since the version the caller named."""


class NoDatabase(SparringError, RuntimeError):
    """No database was given and none has been initialised."""


class PreconditionRequired(SparringError, RuntimeError):
    """A change must name the version it is based on, and named none."""


class RateLimited(SparringError, RuntimeError):
    """The caller asked too often; `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(SparringError, RuntimeError):
    """Something the request needs (the database, the rate limit store) does not answer."""


class RejectedArgument(InvalidInput, RuntimeError):
    """Bad input where Moonshot raises `RuntimeError`: both faces keep working."""


class UnknownName(RejectedArgument):
    """A name that refers to nothing in the workspace (a prompt template, context strategy,
    attack module, metric or endpoint), with Moonshot's "... does not exist." text."""


# Moonshot's own texts, kept so that callers matching on them keep working.
RUNNER_NOT_FOUND = "[Runner] Unable to load runner because the runner file does not exist."
SESSION_METADATA_NOT_FOUND = "[Session] Failed to get Session metadata."
NO_DATABASE = "[Session] Failed to initialise Session. No database instance provided."
EMPTY_RUNNER_ID = "[Session] Failed to initialise Session. String should have at least 1 character."
INVALID_RUNNER_ID = "[Session] Failed to initialise Session. Invalid Runner ID."
