"""The real app under uvicorn, in the test's own event loop, on a free 127.0.0.1 port."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import uvicorn
from litestar import Litestar

from service.cli import server_options
from service.settings import Settings

STARTUP_TIMEOUT_S = 30.0


class _Server(uvicorn.Server):
    """A uvicorn server that tells when it listens and leaves signal handling to pytest."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    @property
    def port(self) -> int:
        return self.servers[0].sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def live_server(app: Litestar, settings: Settings | None = None) -> AsyncIterator[str]:
    """Serve `app` with the options `sparring serve` uses until the block ends; yields its URL.

    `settings` gives the log level (default WARNING); the address is always 127.0.0.1.
    """
    given = settings if settings is not None else Settings.model_construct(log_level="WARNING")
    # Port 0: the kernel picks a free port as it binds, so no other process can take it first.
    options = {**server_options(given), "host": "127.0.0.1", "port": 0}
    server = _Server(uvicorn.Config(app, **options))
    serving = asyncio.create_task(server.serve())
    listening = asyncio.create_task(server.listening.wait())
    done, _ = await asyncio.wait(
        {serving, listening}, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if listening not in done:
        listening.cancel()
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)
        raise RuntimeError("The test server did not start.")
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.should_exit = True
        await serving
