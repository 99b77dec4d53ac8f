"""What live event streams need from the app: the process's notifier and its stream caps.

The notifier starts after the database is open and stops before it closes.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from service.api.notifier import EventNotifier
from service.api.stream_slots import StreamSlots
from service.database import Database
from service.http.deps import DATABASE_STATE_KEY
from service.settings import Settings

NOTIFIER_STATE_KEY = "event_notifier"
STREAM_SLOTS_STATE_KEY = "stream_slots"


def live_events_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database: Database = app.state[DATABASE_STATE_KEY]
        notifier = EventNotifier(database.database, open_when_watched=True)
        app.state[STREAM_SLOTS_STATE_KEY] = StreamSlots(
            per_holder=settings.max_streams_per_key,
            per_workspace=settings.max_streams_per_workspace,
        )
        await notifier.start()
        app.state[NOTIFIER_STATE_KEY] = notifier
        try:
            yield
        finally:
            await notifier.stop()

    return lifespan


def provide_notifier(state: State) -> EventNotifier:
    return state[NOTIFIER_STATE_KEY]


def provide_stream_slots(state: State) -> StreamSlots:
    return state[STREAM_SLOTS_STATE_KEY]
