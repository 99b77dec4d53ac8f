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
from service.workers.queue import TaskQueue
from tests.factories import TEST_SECRET_KEY
from tests.support.fake_openai import FakeOpenAI
from tests.support.memory_database import MemoryDatabase, memory_database
from tests.support.redis_server import redis_server

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`server_only` tests run on the real-server tier alone (several processes share it)."""
    memory_only = [
        item
        for item in items
        if item.get_closest_marker("server_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("bound_database") == "memory"
    ]
    if memory_only:
        config.hook.pytest_deselected(items=memory_only)
        items[:] = [item for item in items if item not in memory_only]


@pytest.fixture(scope="session", params=TIERS)
async def bound_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    name = f"sparring_test_{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        database, client = memory_database(name)
        yield await bind_database(database, client, bucket_size=TEST_BUCKET_SIZE)
        await close_database()
        return
    # The shared test server runs one command at a time for every test of this process and the
    # workers they start; under the whole suite's load it can miss a heartbeat, and a heartbeat
    # that times out makes PyMongo cancel every command in flight (writes to the embedded server
    # are not retryable). The harness waits out such a stall: connect timeout + 10 s per beat.
    client: AsyncMongoClient = AsyncMongoClient(
        request.getfixturevalue("server_uri"), tz_aware=True, connectTimeoutMS=60_000
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
    return Settings(
        data_dir=tmp_path / "data", bucket_size=TEST_BUCKET_SIZE, secret_key=TEST_SECRET_KEY
    )


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """A fake OpenAI-compatible server on 127.0.0.1, its behaviours and counts reset."""
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
async def task_queue(settings: Settings, db: Database) -> AsyncIterator[TaskQueue]:
    """The in-process task queue on the test's database, started; stopped after the test."""
    queue = TaskQueue(settings)
    await queue.start()
    yield queue
    await queue.stop()


@pytest.fixture
def required_settings(settings: Settings) -> Settings:
    """The test settings with SPARRING_AUTH=required: every request needs an API key.

    Endpoints may reach 127.0.0.0/8 (the fake OpenAI server); tests of that rule start strict.
    """
    return Settings(**{
        **settings.model_dump(), "auth": "required", "endpoint_allow_networks": ["127.0.0.0/8"],
    })


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free 127.0.0.1 port for the whole run (installed if missing)."""
    with redis_server() as url:
        yield url
