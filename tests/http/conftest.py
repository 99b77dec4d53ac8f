"""HTTP fixtures: the app over the test's database, in process and under a real uvicorn."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.factories import create_endpoint
from tests.support.asgi import app_lifespan
from tests.support.live_server import live_server

# Endpoint ids the HTTP tests create sessions with.
ENDPOINTS = ["echo-a", "echo-b"]


@pytest.fixture
def app(settings: Settings, db: Database) -> Litestar:
    return create_app(settings, database=db)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, in the test's event loop (the database clients are bound to it)."""
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


@pytest.fixture
async def live_url(app: Litestar) -> AsyncIterator[str]:
    """Base URL of the app served by uvicorn on a free 127.0.0.1 port."""
    async with live_server(app) as url:
        yield url


@pytest.fixture
async def live_client(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as client:
        yield client


@pytest.fixture
async def endpoints(db: Database) -> list[str]:
    """Endpoint ids a new session may name: offline `echo` endpoints, registered."""
    for endpoint in ENDPOINTS:
        await create_endpoint(endpoint)
    return list(ENDPOINTS)


@pytest.fixture
def session_body(endpoints: list[str]) -> Callable[..., dict[str, Any]]:
    """A valid `POST /api/v1/sessions` body for `name`, with fields overridden."""

    def make(session_name: str, **fields: Any) -> dict[str, Any]:
        return {
            "name": session_name,
            "description": f"About {session_name}.",
            "endpoints": endpoints,
            **fields,
        }

    return make


@pytest.fixture
def post_session(
    client: httpx.AsyncClient, session_body: Callable[..., dict[str, Any]]
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a session over HTTP and return the answer's JSON."""

    async def post(name: str, **fields: Any) -> dict[str, Any]:
        response = await client.post("/api/v1/sessions", json=session_body(name, **fields))
        assert response.status_code == 200, response.text
        return response.json()

    return post
