"""uvicorn's server for `sparring serve`, stopping by itself when its database is gone for good."""

from contextlib import suppress
from typing import Any

import uvicorn

from service.database import database_lost


class SupervisedServer(uvicorn.Server):
    """A uvicorn server that shuts down (gracefully, as on SIGTERM) once the embedded database
    it runs has been given up by its supervisor; `database_lost` then says why."""

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(uvicorn.Config(app, **options))
        self.database_lost: str | None = None

    async def on_tick(self, counter: int) -> bool:
        # Called by uvicorn's main loop every 0.1 s: the one place it asks whether to stop.
        lost = database_lost()
        if lost is not None:
            self.database_lost = lost
            return True
        return await super().on_tick(counter)

    def run(self, sockets: Any = None) -> None:
        # As uvicorn.run does: a second Ctrl-C during shutdown is no error.
        with suppress(KeyboardInterrupt):
            super().run(sockets)
