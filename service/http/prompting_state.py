"""What prompting needs from the app: the task queue and the token cipher, made once per app.

The queue starts after the database is open (it queues again what a previous run left
unfinished) and stops before it closes.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.queue import TaskQueue

TASK_QUEUE_STATE_KEY = "task_queue"
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
            await queue.stop()

    return lifespan


def provide_task_queue(state: State) -> TaskQueue:
    return state[TASK_QUEUE_STATE_KEY]


def provide_cipher(state: State) -> TokenCipher:
    return state[CIPHER_STATE_KEY]
