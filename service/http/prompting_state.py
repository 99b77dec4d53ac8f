"""What prompting needs from the app: the task queue and the token cipher, made once per app.

The queue starts after the database is open (it queues again what a previous run left
unfinished) and stops before it closes. On shutdown (SIGTERM) prompts running in this process
get most of `shutdown_grace_s` to finish; the rest stay unfinished in MongoDB, queued again by
the next start.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.queue import TaskQueue

TASK_QUEUE_STATE_KEY = "task_queue"
# How long uvicorn lets open connections finish before the lifespan ends (`service.cli`).
CONNECTIONS_CLOSE_S = 5.0
# Kept of the grace, after tasks had their time, for closing the rest (the database last).
CLOSING_S = 2.0
CIPHER_STATE_KEY = "token_cipher"


def prompting_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state[CIPHER_STATE_KEY] = TokenCipher.from_settings(settings)
        queue = TaskQueue(settings)
        await queue.start()
        app.state[TASK_QUEUE_STATE_KEY] = queue
        try:
            yield
        finally:
            await queue.stop(drain_s=task_drain_time(settings.shutdown_grace_s))

    return lifespan


def task_drain_time(grace_s: float) -> float:
    """Of the grace from SIGTERM, what is left to running prompts once connections closed."""
    return max(grace_s - CONNECTIONS_CLOSE_S - CLOSING_S, 0.0)


def provide_task_queue(state: State) -> TaskQueue:
    return state[TASK_QUEUE_STATE_KEY]


def provide_cipher(state: State) -> TokenCipher:
    return state[CIPHER_STATE_KEY]
