"""A stoppable SecantusDB that stops itself the moment a chosen command starts.

An outage that begins at an exact point of a request (after its reads, at the second write of
its transaction, between two chunks of a streamed answer) cannot be timed from outside; PyMongo's
command monitoring sees each command before it is sent, and stopping the server there makes the
command, and those after it, meet a real gone server.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from service.database import bind_database, close_database, current_database
from service.embedded import EmbeddedServer
from tests.support.stoppable_database import TEST_DB_WAIT_MS, StoppableDatabase

Trigger = Callable[[CommandStartedEvent], bool]


@dataclass
class StopOnCommand(CommandListener):
    """Stops `server` when the first command `trigger` accepts starts, once per `arm`."""

    server: EmbeddedServer | None = None
    trigger: Trigger | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    # How long the (polite, blocking) stop held the event loop: time no request could use.
    stop_took_s: float = 0.0

    def arm(self, trigger: Trigger) -> None:
        self.trigger = trigger
        self.stopped.clear()

    def started(self, event: CommandStartedEvent) -> None:
        if self.trigger is None or self.server is None or not self.trigger(event):
            return
        self.trigger = None
        # Blocking, on purpose: the command is sent only after the server is gone.
        started = time.monotonic()
        self.server.stop()
        self.stop_took_s = time.monotonic() - started
        self.stopped.set()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        return None

    def failed(self, event: CommandFailedEvent) -> None:
        return None


def nth_in_transaction(n: int) -> Trigger:
    """The n-th command sent inside a transaction (1 is the one that starts it)."""
    seen = 0

    def trigger(event: CommandStartedEvent) -> bool:
        nonlocal seen
        if event.command.get("autocommit") is not False:
            return False
        seen += 1
        return seen == n

    return trigger


def command_on(name: str, collection: str, n: int = 1) -> Trigger:
    """The n-th `name` command (find, insert, ...) on `collection`."""
    seen = 0

    def trigger(event: CommandStartedEvent) -> bool:
        nonlocal seen
        if event.command_name != name or event.command.get(name) != collection:
            return False
        seen += 1
        return seen == n

    return trigger


@asynccontextmanager
async def database_stopping_on_command(
    directory: Path, *, bucket_size: int, wait_ms: int = TEST_DB_WAIT_MS
) -> AsyncIterator[tuple[StoppableDatabase, StopOnCommand]]:
    """Like `stoppable_database`, with a listener the test arms to stop the server mid-request."""
    previous = current_database()
    server = EmbeddedServer(directory / "db")
    listener = StopOnCommand()
    uri = await asyncio.to_thread(server.start)
    listener.server = server
    client: AsyncMongoClient = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=wait_ms, connectTimeoutMS=wait_ms,
        event_listeners=[listener],
    )
    try:
        bound = await bind_database(
            client[f"outage_{uuid.uuid4().hex[:8]}"], client, bucket_size=bucket_size
        )
        yield StoppableDatabase(database=bound, server=server), listener
    finally:
        listener.trigger = None
        await close_database()
        await client.close()
        await asyncio.to_thread(server.stop)
        if previous is not None:
            await bind_database(
                previous.database, previous.client, bucket_size=previous.bucket_size,
                owns_client=previous.owns_client,
            )
