"""Fixtures shared by every test; the database tier is chosen here and nowhere else.

Tests that take `db` run twice: on mongomock-motor (in memory) and on a real MongoDB wire
protocol server (`SPARRING_TEST_MONGODB_URI`, else SecantusDB started on 127.0.0.1).
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from models import DOCUMENTS
from service.database import Database, bind_database, close_database
from service.embedded import EmbeddedServer
from service.settings import Settings
from tests.support.memory_database import MemoryDatabase, memory_database

TIERS = ["memory", "server"]
TEST_BUCKET_SIZE = 10


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real wire-protocol server for the whole run, started only if a test needs one."""
    given = os.environ.get("SPARRING_TEST_MONGODB_URI")
    if given:
        yield given
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("secantus") / "db")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session", params=TIERS)
async def bound_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    name = f"sparring_test_{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        database, client = memory_database(name)
        yield await bind_database(database, client, bucket_size=TEST_BUCKET_SIZE)
        await close_database()
        return
    client: AsyncMongoClient = AsyncMongoClient(
        request.getfixturevalue("server_uri"), tz_aware=True
    )
    yield await bind_database(client[name], client, bucket_size=TEST_BUCKET_SIZE)
    await client.drop_database(name)
    await close_database()


@pytest.fixture
def tier(bound_database: Database) -> str:
    return "memory" if isinstance(bound_database.database, MemoryDatabase) else "server"


@pytest.fixture
async def db(bound_database: Database) -> AsyncIterator[Database]:
    """The bound database, emptied after each test."""
    yield bound_database
    for document in DOCUMENTS:
        await document.get_pymongo_collection().delete_many({})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", bucket_size=TEST_BUCKET_SIZE)
