"""Opening the database for library use, without the HTTP service."""

from typing import Any

from service.database import close_database, current_database, open_database
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


async def disconnect() -> None:
    """Release the database (and stop the embedded server if `connect` started it here)."""
    await close_database()
