"""The database connection the service initialised: opened once, shared by api functions.

Beanie binds documents to one database per process, so the connection is process state by
nature; it is only ever set by `open_database` (app lifespan, worker start-up, `connect`).
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from models import DOCUMENTS
from models.retired import RETIRED_INDEXES
from service.embedded import EmbeddedServer
from service.metrics.database import DatabaseCommandMetrics
from service.settings import Settings
from service.storage_layout import settle_bucket_size

log = logging.getLogger(__name__)


@dataclass
class Database:
    """An initialised database and what the api functions need to know about it."""

    database: Any
    client: Any
    bucket_size: int
    supports_transactions: bool
    embedded: EmbeddedServer | None = None
    # SecantusDB's findAndModify reads every document of its collection (0.7.0b3: 130 ms at
    # 20,000 documents, where an update by `_id` takes 1 ms); `service.api.atomic` then does
    # without it.
    find_and_modify_scans: bool = False
    # SecantusDB (0.7.0b3) can deadlock when two transactions are open while a plain write
    # waits on one of them: the write keeps its collection's lock while it retries, the other
    # transaction's next statement waits for that lock while holding its own, and every
    # statement and commit first takes each open transaction's lock in turn. So on it this
    # process runs its transactions one at a time, under this lock; elsewhere None.
    transaction_turn: asyncio.Lock | None = None
    owns_client: bool = True
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.owns_client and hasattr(self.client, "close"):
            result = self.client.close()
            if hasattr(result, "__await__"):
                await result
        if self.embedded is not None:
            self.embedded.stop()


_current: Database | None = None


def current_database() -> Database | None:
    """The database the service initialised, or None before `open_database`."""
    return _current


async def _supports_transactions(client: Any) -> bool:
    # Transactions need a replica set (or sharded cluster); a mongomock client has no admin.
    try:
        hello = await client.admin.command("hello")
    except (AttributeError, NotImplementedError, TypeError):
        return False
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


async def _is_secantus(client: Any) -> bool:
    try:
        build = await client.admin.command("buildInfo")
    except (AttributeError, NotImplementedError, TypeError):
        return False
    return "secantusVersion" in build


async def bind_database(
    database: Any,
    client: Any,
    *,
    bucket_size: int,
    embedded: EmbeddedServer | None = None,
    owns_client: bool = True,
) -> Database:
    """Initialise Beanie on `database` and make it the one api functions use."""
    global _current
    await init_beanie(database=database, document_models=DOCUMENTS)
    await drop_retired_indexes(database)
    secantus = await _is_secantus(client)
    _current = Database(
        database=database,
        client=client,
        bucket_size=bucket_size,
        supports_transactions=await _supports_transactions(client),
        embedded=embedded,
        find_and_modify_scans=secantus,
        transaction_turn=asyncio.Lock() if secantus else None,
        owns_client=owns_client,
    )
    return _current


async def drop_retired_indexes(database: Any) -> None:
    """Drop the indexes of `models.retired` that a database made by an earlier version has."""
    for collection_name, names in RETIRED_INDEXES.items():
        collection = database[collection_name]
        present = await collection.index_information()
        for name in names:
            if name in present:
                log.info("Dropping index %s of %s: no query uses it.", name, collection_name)
                await collection.drop_index(name)


# Under the embedded server's idle timeout (300 s), with room for a slow request.
EMBEDDED_MAX_IDLE_MS = 240_000


def client_options(settings: Settings) -> dict[str, Any]:
    """PyMongo's options for the service's clients: an unreachable database fails a call after
    `db_wait_s` (PyMongo waits 30 s by default), and the service answers 503 meanwhile."""
    wait_ms = round(settings.db_wait_s * 1000)
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": wait_ms,
        # A server that accepts no connection fails as fast as one that is not selected.
        "connectTimeoutMS": wait_ms,
    }
    if settings.mongodb_uri is None:
        # The embedded server closes a connection idle for 300 s, and writes to it are not
        # retryable (`embedded.CLIENT_OPTIONS`): a write on a pooled connection it closed
        # during a quiet spell failed (the bench's first write after ~340 s idle). So pooled
        # connections retire first. Not for a MongoDB given by URI, whose options are its own.
        options["maxIdleTimeMS"] = EMBEDDED_MAX_IDLE_MS
    return options


def database_lost() -> str | None:
    """Why the embedded database this process runs is gone for good (it exited and could not
    be restarted), or None: the process should stop rather than serve errors."""
    if _current is None or _current.embedded is None:
        return None
    return _current.embedded.lost


def embedded_server(settings: Settings) -> EmbeddedServer:
    """The embedded server of the data dir, configured by `settings`."""
    return EmbeddedServer(
        settings.data_dir.resolve() / "db",
        start_timeout_s=settings.embedded_start_timeout_s,
        cache_size=settings.embedded_cache_size,
        sync_on_commit=settings.embedded_sync_on_commit,
    )


async def open_database(
    settings: Settings, *, event_listeners: Sequence[Any] = ()
) -> Database:
    """Connect to `settings.mongodb_uri`; without one, to the embedded server of the data dir.

    On the embedded default every process of a deployment shares one server: the one another
    sparring process (`sparring serve`, usually) started, if it answers, else one started here,
    which this process stops when it closes the database. `event_listeners` are PyMongo
    monitoring listeners for the client (the benchmark counts commands with one).
    """
    embedded: EmbeddedServer | None = None
    if settings.mongodb_uri is None:
        embedded = embedded_server(settings)
        # Carries the login: never logged (the log filter masks it anyway) nor shown.
        uri = embedded.start()
    else:
        uri = settings.mongodb_uri.get_secret_value()
    client: AsyncMongoClient = AsyncMongoClient(
        uri, event_listeners=[*event_listeners, DatabaseCommandMetrics()],
        **client_options(settings),
    )
    try:
        database = await bind_database(
            client[settings.database], client, bucket_size=settings.bucket_size, embedded=embedded
        )
        database.bucket_size = await settle_bucket_size(settings)
        return database
    except BaseException:
        await client.close()
        if embedded is not None:
            embedded.stop()
        raise


async def close_database() -> None:
    """Release the current database (and stop the embedded server if this process runs it)."""
    global _current
    database, _current = _current, None
    if database is not None:
        await database.close()


async def ping(database: Database) -> bool:
    """Whether the database answers, for readiness checks."""
    try:
        await database.database.command("ping")
    except (PyMongoError, OSError):
        return False
    return True
