"""Riding out outages of Redis or the database: which errors are one, backoff, logged once.

A worker (or the server's task queue) that loses Redis or MongoDB keeps running: each loop that
touches them waits with a growing backoff and tries again. Every such loop of a process shares
one `Outage` per dependency, so an outage is logged once when it starts and once when it ends,
however many requests, tasks and loops ran into it meanwhile.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("service.workers")

# PyMongo raises a `ConnectionFailure` (server selection timed out, connection reset, network
# timeout) while the database cannot be reached; redis-py its `ConnectionError` (refused, reset,
# still loading its data) or `TimeoutError`. Anything else is a real error of the task.
DATABASE_ERRORS: tuple[type[Exception], ...] = (ConnectionFailure,)
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
OUTAGE_ERRORS = DATABASE_ERRORS + REDIS_ERRORS

FIRST_DELAY_S = 0.1
LONGEST_DELAY_S = 5.0


@dataclass
class Backoff:
    """Delays that double from `first_s` up to `longest_s`; `reset` once a try succeeded."""

    first_s: float = FIRST_DELAY_S
    longest_s: float = LONGEST_DELAY_S
    _next_s: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        delay = self._next_s or self.first_s
        self._next_s = min(delay * 2, self.longest_s)
        return delay

    def reset(self) -> None:
        self._next_s = 0.0

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay())


@dataclass
class Outage:
    """Whether `what` is down, as the loops of this process found it; logs each change once."""

    what: str
    since: float | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            # The error's type only: its text may hold a URL, and with it a password.
            log.warning(
                "%s is unreachable (%s); retrying with backoff until it is back.",
                self.what, type(error).__name__,
            )

    def succeeded(self) -> None:
        if self.since is not None:
            log.info("%s is back after %.1f s.", self.what, time.monotonic() - self.since)
            self.since = None


@dataclass
class Outages:
    """This process's view of its two dependencies."""

    redis: Outage = field(default_factory=lambda: Outage("Redis"))
    database: Outage = field(default_factory=lambda: Outage("The database"))

    def failed(self, error: BaseException) -> None:
        """Note an outage error (one of `OUTAGE_ERRORS`) against the dependency it names."""
        (self.redis if isinstance(error, REDIS_ERRORS) else self.database).failed(error)

    def succeeded(self) -> None:
        """A try that needed both dependencies went through: whatever was down is back."""
        self.redis.succeeded()
        self.database.succeeded()


# One per process: every loop of it sees the same outage (and it is logged once).
OUTAGES = Outages()
