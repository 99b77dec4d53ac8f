"""Opening the database for library use, without the HTTP service."""

from typing import Any

from service.api.context import DEFAULT_BUCKET_SIZE, is_database, is_same_database
from service.api.errors import NO_DATABASE, NoDatabase
from service.database import bind_database, close_database, current_database, open_database
from service.settings import Settings


async def connect(uri: str | None = None, **settings: Any) -> Any:
    """Open the database api functions use and return it.

    `uri=None` does what `sparring serve` does: use `SPARRING_MONGODB_URI` if set, else the
    embedded server of the data dir: the one a running `sparring serve` started, or one started
    here. Other keywords override settings (`database=...`).
    """
    if current_database() is not None:
        await close_database()
    overrides: dict[str, Any] = dict(settings)
    if uri is not None:
        overrides["mongodb_uri"] = uri
    opened = await open_database(Settings(**overrides))
    return opened.database


async def use_database(database: Any, *, bucket_size: int | None = None) -> Any:
    """Make `database` (a PyMongo async database) the one api functions use, and return it.

    Beanie binds documents per process, so this moves every caller of the process to it: the
    database used so far is released first, as `disconnect` does. The client stays the
    caller's to close. `bucket_size` defaults to the current one, else the setting's default.
    """
    if not is_database(database):
        raise NoDatabase(NO_DATABASE)
    current = current_database()
    if current is not None and is_same_database(database, current.database):
        return current.database
    if bucket_size is None:
        bucket_size = current.bucket_size if current is not None else DEFAULT_BUCKET_SIZE
    if current is not None:
        await close_database()
    bound = await bind_database(
        database, database.client, bucket_size=bucket_size, owns_client=False
    )
    return bound.database


async def disconnect() -> None:
    """Release the database (and stop the embedded server if `connect` started it here)."""
    await close_database()
