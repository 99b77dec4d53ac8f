"""A loopback stand-in for moonshot-ui's webhook route: it keeps each body it is posted."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, post

from tests.support.live_server import live_server

# moonshot-ui's route for red-teaming progress.
WEBHOOK_PATH = "/api/v1/redteaming/status"


@dataclass
class Receiver:
    """What the stand-in received, in order; `completed` is set by the `COMPLETED` body."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    completed: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    @post(WEBHOOK_PATH, status_code=200)
    async def status(request: Request) -> dict[str, str]:
        body = await request.json()
        got.bodies.append(body)
        if body.get("current_status") == "COMPLETED":
            got.completed.set()
        return {"msg": "Updates sent to ART SSE writer"}

    async with live_server(Litestar(route_handlers=[status])) as url:
        got.url = url + WEBHOOK_PATH
        yield got
