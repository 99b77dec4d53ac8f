"""A SecantusDB of one test's own, which the test stops and starts again on the same port.

Beanie binds documents to one database per process, so while the block runs the api functions
use this server; afterwards the run's own test database is bound again.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pymongo import AsyncMongoClient

from service.database import Database, bind_database, close_database, current_database
from service.embedded import EmbeddedServer

# How long a request waits for a stopped server before it is told the database is away: the
# service's SPARRING_DB_WAIT_S, short here so an outage test takes seconds.
TEST_DB_WAIT_MS = 500
# How long closing the clients of a stopped server may take before it is an error.
CLOSE_TIMEOUT_S = 60.0


@dataclass
class StoppableDatabase:
    """The bound database and the server under it."""

    database: Database
    server: EmbeddedServer

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        """Start the server again, on its port, with its files: clients reconnect by themselves."""
        await asyncio.to_thread(self.server.restart)


@asynccontextmanager
async def stoppable_database(
    directory: Path, *, bucket_size: int, wait_ms: int = TEST_DB_WAIT_MS
) -> AsyncIterator[StoppableDatabase]:
    """Start a server under `directory`, bind Beanie to it for the block, then bind back."""
    previous = current_database()
    server = EmbeddedServer(directory / "db")
    uri = await asyncio.to_thread(server.start)
    client: AsyncMongoClient = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=wait_ms
    )
    try:
        bound = await bind_database(
            client[f"outage_{uuid.uuid4().hex[:8]}"], client, bucket_size=bucket_size
        )
        yield StoppableDatabase(database=bound, server=server)
    finally:
        try:
            # Bounded: a client left waiting on the stopped server must fail this test, never
            # hang the whole run (its server is stopped and Beanie bound back regardless).
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await close_database()
                await client.close()
        finally:
            await asyncio.to_thread(server.stop)
            if previous is not None:
                await bind_database(
                    previous.database, previous.client, bucket_size=previous.bucket_size,
                    owns_client=previous.owns_client,
                )
