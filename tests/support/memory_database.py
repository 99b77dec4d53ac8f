"""The in-memory tier: mongomock-motor with the small adapter Beanie 2 needs."""

from typing import Any

from mongomock_motor import AsyncMongoMockClient


class MemoryDatabase:
    """A mongomock-motor database that accepts what Beanie 2's `init_beanie` passes.

    Beanie calls `list_collection_names(authorizedCollections=..., nameOnly=...)`, options a
    real server understands and mongomock rejects; everything else passes straight through.
    """

    def __init__(self, database: Any) -> None:
        self._database = database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)

    def __getitem__(self, name: str) -> Any:
        return self._database[name]

    async def list_collection_names(
        self, *args: Any, authorizedCollections: bool | None = None,
        nameOnly: bool | None = None, **kwargs: Any,
    ) -> list[str]:
        return await self._database.list_collection_names(*args, **kwargs)


def memory_database(name: str) -> tuple[MemoryDatabase, AsyncMongoMockClient]:
    client = AsyncMongoMockClient()
    return MemoryDatabase(client[name]), client
