"""An in-process HTTP client for an app, with its lifespan running and a chosen client address."""

import contextlib
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar

from tests.support.asgi import app_lifespan


@contextlib.asynccontextmanager
async def asgi_client(
    app: Litestar, *, client_address: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` in the test's event loop, its requests coming from `client_address`."""
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app, client=(client_address, 50_000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers=headers
        ) as client:
            yield client
