"""Running an app's lifespan in a task of its own, as a server does.

pytest-asyncio sets a fixture up and tears it down in different tasks, and Litestar's lifespan
(anyio task groups inside) must start and stop in one.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar


@contextlib.asynccontextmanager
async def app_lifespan(app: Litestar) -> AsyncIterator[Litestar]:
    started = asyncio.Event()
    stop = asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    running = asyncio.create_task(run())
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiting.cancel()
        await running  # raises what the start-up raised
        raise RuntimeError("The app's lifespan ended during start-up.")
    try:
        yield app
    finally:
        stop.set()
        await running
