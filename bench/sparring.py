"""Sparring's side: the database the run uses, embedded by default or `SPARRING_MONGODB_URI`."""

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.commands import CommandCounter
from bench.processes import Server, start_server
from service.database import close_database, open_database
from service.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SparringDatabase:
    """Where Sparring's data lives during a run; the HTTP server process connects to the same."""

    # For the harness's own clients; it may carry a password, so it never goes on a command line.
    uri: str
    # On the embedded default the HTTP server joins the server of `data_dir`, logging in with the
    # credentials kept there.
    embedded: bool
    data_dir: Path
    database: str
    description: str
    bucket_size: int
    # Counts every command the harness's own client sends (the api functions the cases call).
    commands: CommandCounter


@asynccontextmanager
async def open_sparring(work_dir: Path, mongodb_uri: str | None) -> AsyncIterator[SparringDatabase]:
    """Connect the api functions to a fresh database; it is dropped (or its server stopped) after.

    With no URI given here or in `SPARRING_MONGODB_URI`, the embedded server starts with its
    files under `work_dir`, as `sparring serve` would start it.
    """
    configured = Settings().mongodb_uri
    uri = mongodb_uri or (configured.get_secret_value() if configured else None)
    name = f"sparring_bench_{uuid.uuid4().hex[:8]}"
    data_dir = work_dir / "sparring-data"
    commands = CommandCounter()
    # As `service.api.connect` opens it, with the counter on the client.
    overrides: dict[str, Any] = {} if uri is None else {"mongodb_uri": uri}
    opened = await open_database(
        Settings(database=name, data_dir=data_dir, **overrides), event_listeners=[commands]
    )
    try:
        build = await opened.database.command("buildInfo")
        if opened.embedded is not None:
            description = (
                f"SecantusDB {metadata.version('SecantusDB')} (embedded, "
                f"wire version {build.get('version', '?')})"
            )
            server_uri = opened.embedded.uri
        else:
            description = f"MongoDB server {build.get('version', '?')} (SPARRING_MONGODB_URI)"
            server_uri = uri or ""
        yield SparringDatabase(
            uri=server_uri, embedded=opened.embedded is not None, data_dir=data_dir,
            database=name, description=description,
            bucket_size=opened.bucket_size, commands=commands,
        )
    finally:
        if opened.embedded is None:
            await opened.client.drop_database(name)
        await close_database()


@asynccontextmanager
async def serve(
    database: SparringDatabase,
    work_dir: Path,
    *,
    timeout_s: float,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Server]:
    """Sparring's HTTP service in its own process on a free 127.0.0.1 port, on `database`.

    `settings` adds environment variables (e.g. `SPARRING_REDIS_URL`) for the server process.
    """
    # The URI may carry a password: it goes in the environment, never on the command line.
    environment = {**server_environment(database), **(settings or {})}
    data_dir = server_data_dir(database, work_dir)
    async with start_server(
        "sparring",
        [
            sys.executable, "-m", "bench.sparring_server",
            "--database", database.database, "--data-dir", str(data_dir),
        ],
        cwd=REPOSITORY,
        log_path=work_dir / "logs" / "sparring-server.log",
        timeout_s=timeout_s,
        environment=environment or None,
    ) as server:
        yield server


def server_data_dir(database: SparringDatabase, work_dir: Path) -> Path:
    """The data dir of the server process: that of the embedded database, else its own (where
    its generated secret key is kept, which every worker of it must share)."""
    return database.data_dir if database.embedded else work_dir / "sparring-server"


def server_environment(database: SparringDatabase) -> dict[str, str]:
    """How another process (a worker) reaches the server's database: the URI goes in the
    environment, since it may carry a password."""
    return {} if database.embedded else {"SPARRING_MONGODB_URI": database.uri}
