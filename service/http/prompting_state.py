"""What prompting needs from the app: the task queue and the token cipher, made once per app.

The queue starts after the database is open (it queues again what a previous run left
unfinished) and stops before it closes. On shutdown (SIGTERM) prompts running in this process
get most of `shutdown_grace_s` to finish; the rest stay unfinished in MongoDB, queued again by
the next start.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager

from litestar import Litestar
from litestar.datastructures import State

from service.api.prompting import BatchWakes, BatchWatch
from service.http.live_state import provide_notifier
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


def provide_batch_watch(state: State) -> BatchWatch:
    """How a prompt handler learns that its batch ended: told directly by the tasks when they
    run in this process, else woken by the session's events (the change stream, or the
    notifier's shared poller where there is none)."""
    batches = provide_task_queue(state).process_batches
    if batches is not None:
        return batches.watch
    notifier = provide_notifier(state)

    @contextmanager
    def watch_events(workspace: str, session_id: str, key: str) -> Iterator[BatchWakes]:
        with notifier.subscribe(workspace, session_id) as subscription:
            yield subscription

    return watch_events


def provide_batch_ended(state: State) -> Callable[[str], None]:
    """Tells this process's waiting handlers that a batch ended (a cancel settles batches
    outside any task); nothing to tell when the tasks run elsewhere."""
    batches = provide_task_queue(state).process_batches
    return (lambda key: None) if batches is None else batches.ended
