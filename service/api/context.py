"""Which database an api function works on."""

from typing import Any

from service.api.errors import NO_DATABASE, NoDatabase
from service.database import Database, bind_database, current_database


def require_database() -> Database:
    """The database the service initialised; Moonshot's error when there is none."""
    database = current_database()
    if database is None:
        raise NoDatabase(NO_DATABASE)
    return database


async def resolve_database(database_instance: Any) -> Database:
    """The database to use for `database_instance`, as Moonshot's `api_create_session` reads it.

    `None` means the initialised database. Anything that is not a database (`[]`, `{}`, `123`)
    fails with Moonshot's message. Another database becomes the one documents are bound to,
    since Beanie binds them per process.
    """
    current = current_database()
    if database_instance is None:
        return require_database()
    if not _is_database(database_instance):
        raise NoDatabase(NO_DATABASE)
    if current is not None and _same_database(database_instance, current.database):
        return current
    bucket_size = current.bucket_size if current is not None else 100
    return await bind_database(
        database_instance, database_instance.client, bucket_size=bucket_size, owns_client=False
    )


def _is_database(candidate: Any) -> bool:
    return all(
        hasattr(candidate, attribute) for attribute in ("name", "client", "get_collection")
    )


def _same_database(candidate: Any, bound: Any) -> bool:
    return candidate is bound or (
        candidate.name == bound.name and candidate.client is bound.client
    )
