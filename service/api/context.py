"""Which database an api function works on."""

from typing import Any

from service.api.errors import NO_DATABASE, NoDatabase, RejectedArgument
from service.database import Database, bind_database, current_database
from service.settings import Settings

# Beanie binds documents to one database per process: switching is never a side effect.
ANOTHER_DATABASE = (
    "[Session] Failed to initialise Session. Another database is in use in this process; "
    "switch to this one with service.api.use_database() first."
)
# For a database given without settings: the setting's default.
DEFAULT_BUCKET_SIZE: int = Settings.model_fields["bucket_size"].default


def require_database() -> Database:
    """The database the service initialised; Moonshot's error when there is none.

    Every domain function that reads or writes calls it (or an accessor that does) first.
    """
    database = current_database()
    if database is None:
        raise NoDatabase(NO_DATABASE)
    return database


async def resolve_database(database_instance: Any) -> Database:
    """The database to use for `database_instance`, as Moonshot's `api_create_session` reads it.

    `None` means the initialised database, and so does that database itself. Anything that is
    not a database (`[]`, `{}`, `123`) fails with Moonshot's message. With no database
    initialised, the one given becomes it, as `use_database` would make it. Another database
    while one is in use is refused: rebinding would move every caller of the process to it.
    """
    current = current_database()
    if database_instance is None:
        return require_database()
    if not is_database(database_instance):
        raise NoDatabase(NO_DATABASE)
    if current is None:
        return await bind_database(
            database_instance,
            database_instance.client,
            bucket_size=DEFAULT_BUCKET_SIZE,
            owns_client=False,
        )
    if not is_same_database(database_instance, current.database):
        raise RejectedArgument(ANOTHER_DATABASE, field="database_instance")
    return current


def is_database(candidate: Any) -> bool:
    return all(
        hasattr(candidate, attribute) for attribute in ("name", "client", "get_collection")
    )


def is_same_database(candidate: Any, bound: Any) -> bool:
    return candidate is bound or (
        candidate.name == bound.name and candidate.client is bound.client
    )
