"""Running several writes as one transaction where the server supports it.

PyMongo's `with_transaction` retries a transient failure for a fixed 120 s, so in an outage a
request would hang two minutes. This loop retries the same errors the same way (the driver's
convenient-API rules: `TransientTransactionError` runs the whole transaction again,
`UnknownTransactionCommitResult` the commit), but only within the database wait: the client's
server-selection timeout, which `open_database` sets from `SPARRING_DB_WAIT_S`, so one setting
bounds how long any request waits for the database. Past it, a `ConnectionFailure` is raised
as is (HTTP: 503 with Retry-After) and nothing of the transaction is committed.
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import pymongo
from pymongo.errors import ConnectionFailure, PyMongoError

from service.api.context import require_database
from service.api.errors import Unavailable

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
# The wait when a client does not say its own (PyMongo's default would be 30 s).
DEFAULT_WAIT_S = 5.0
# The driver's own backoff between attempts: jittered, growing, at most half a second.
BACKOFF_FIRST_S = 0.005
BACKOFF_MAX_S = 0.5
# Aborting asks the server, which may be the one that is gone: never spend the wait on it.
# Best effort is enough, since the next attempt's transaction number aborts it server-side.
ABORT_WAIT_S = 0.25
ABORT_FLOOR_S = 0.05
DATABASE_BUSY = "Database busy; retry shortly."
MAX_TIME_MS_EXPIRED = 50


def database_wait_s(client: Any) -> float:
    """How long a transaction keeps retrying: the client's server-selection timeout."""
    timeout = getattr(getattr(client, "options", None), "server_selection_timeout", None)
    return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_WAIT_S


async def in_transaction(work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(session)` in a transaction, or with `session=None` where there is none.

    `work` must order its writes so that stopping part-way leaves nothing orphaned, since
    without a transaction (mongomock, a standalone mongod) that can happen. With one, `work`
    may run more than once, so it must not keep state between runs.
    """
    database = require_database()
    if not database.supports_transactions:
        await work(None)
        return
    # One at a time where the server needs it (`Database.transaction_turn`). Each holds its turn
    # at most its own deadline, which starts with the turn: waiting in line is not a failure.
    async with database.transaction_turn or contextlib.nullcontext():
        deadline = time.monotonic() + database_wait_s(database.client)
        async with database.client.start_session() as session:
            await _run_until(session, work, deadline)


async def _run_until(session: Any, work: Callable[[Any], Awaitable[None]], deadline: float) -> None:
    # Any other error (a cancellation included) leaves the block, whose session end aborts.
    attempt = 0
    while True:
        if attempt:
            await _back_off(attempt, deadline)
        attempt += 1
        await session.start_transaction()
        try:
            await work(session)
        except PyMongoError as error:
            await _abort(session, deadline)
            if _labelled(error, TRANSIENT) and time.monotonic() < deadline:
                continue
            _give_up(error)
        if await _commit(session, deadline):
            return


async def _commit(session: Any, deadline: float) -> bool:
    """Commit; True when done, False when the whole transaction must run again."""
    while True:
        try:
            await session.commit_transaction()
        except PyMongoError as error:
            if time.monotonic() < deadline:
                if _labelled(error, UNKNOWN_COMMIT) and not _max_time_expired(error):
                    continue
                if _labelled(error, TRANSIENT):
                    return False
            _give_up(error)
        return True


async def _abort(session: Any, deadline: float) -> None:
    # PyMongo ignores abort errors (the server drops an unfinished transaction by itself);
    # the timeout keeps a gone server from taking the time the retries need.
    if not session.in_transaction:
        return
    remaining = deadline - time.monotonic()
    with pymongo.timeout(max(min(remaining, ABORT_WAIT_S), ABORT_FLOOR_S)):
        await session.abort_transaction()


async def _back_off(attempt: int, deadline: float) -> None:
    pause = random.random() * min(BACKOFF_FIRST_S * 1.5**attempt, BACKOFF_MAX_S)
    await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))


def _labelled(error: PyMongoError, label: str) -> bool:
    return error.has_error_label(label)


def _max_time_expired(error: PyMongoError) -> bool:
    # A commit that ran out of its own time limit will not succeed by being sent again.
    return getattr(error, "code", None) == MAX_TIME_MS_EXPIRED


def _give_up(error: PyMongoError) -> NoReturn:
    """Retrying is over: a database that does not answer stays a `ConnectionFailure` (503); a
    transaction that kept conflicting is a busy database (503); anything else is raised as is."""
    if isinstance(error, ConnectionFailure) or not _labelled(error, TRANSIENT):
        raise error
    raise Unavailable(DATABASE_BUSY) from error
