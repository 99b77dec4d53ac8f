"""What one process's prompt tasks and prompt handlers share about batches and endpoints,
kept in memory.

The tasks of a batch run side by side in one process (all of them in process, several per
worker through Redis) and each needs the same stored batch: one read serves them all. A
handler waiting for its batch in the process that runs the batch's tasks is told of the end
directly, at the moment a task of this process settles it, rather than asking the database.
A run calls the same few endpoints hundreds of times: a read of each serves its calls for a
couple of seconds. All are per process (held by its `Runtime`), never shared through a module.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from models import Endpoint, PromptBatch
from service.connectors import Target

# Batches whose read is kept: more than the batches one process runs at once.
KEPT_BATCHES = 1024
# How long a run's calls use an endpoint as read: an edit (a new token, new limits) or a
# delete reaches a running run's calls within this.
TARGET_FRESH_S = 2.0
KEPT_TARGETS = 1024


class BatchEnd:
    """One handler's wait for one batch: `pending()` is set once a task of this process
    settled the batch (the shape of `service.api.notifier.Subscription.pending`)."""

    def __init__(self) -> None:
        self._ended = asyncio.Event()

    def pending(self) -> asyncio.Event:
        return self._ended


class ProcessBatches:
    """The batches this process's tasks read, and the handlers waiting for one to end."""

    def __init__(self) -> None:
        self._reads: OrderedDict[str, asyncio.Future[PromptBatch | None]] = OrderedDict()
        self._waiting: dict[str, set[BatchEnd]] = {}

    async def read(
        self, key: str, read: Callable[[], Awaitable[PromptBatch | None]]
    ) -> PromptBatch | None:
        """The batch `key` as `read()` gives it, read once for every task of this process.

        For what does not change once stored (its prompt, settings, session, run); its status
        is read afresh where it matters.
        """
        future = self._reads.get(key)
        # A read that failed (the database away) or found nothing is no answer to keep.
        if future is None or _unusable(future):
            future = self._reads[key] = asyncio.ensure_future(read())
            while len(self._reads) > KEPT_BATCHES:
                self._reads.popitem(last=False)
        self._reads.move_to_end(key)
        # Shielded: one task cancelled does not cancel the read the others wait for.
        return await asyncio.shield(future)

    @contextmanager
    def watch(self, workspace: str, session_id: str, key: str) -> Iterator[BatchEnd]:
        """Wait for the end of batch `key` (of that workspace and session) for as long as the
        block runs; a `batches.BatchWatch`."""
        end = BatchEnd()
        self._waiting.setdefault(key, set()).add(end)
        try:
            yield end
        finally:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(end)
                if not waiting:
                    del self._waiting[key]

    def ended(self, key: str) -> None:
        """Batch `key` has its final status: tell its waiters; its tasks need it no more."""
        self._reads.pop(key, None)
        for end in self._waiting.get(key, ()):
            end.pending().set()

    def waiting(self) -> int:
        """How many batches handlers wait for (for tests: none is left behind)."""
        return len(self._waiting)


class ProcessTargets:
    """Endpoints as a run's calls in this process read them, each read kept `fresh_s`.

    Kept by (workspace, endpoint): a workspace's calls only ever see its own endpoints. A read
    that failed (not found, token unreadable, the database away) is not kept.
    """

    def __init__(
        self, fresh_s: float = TARGET_FRESH_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fresh_s = fresh_s
        self._clock = clock
        self._reads: OrderedDict[tuple[str, str], tuple[float, asyncio.Future[Any]]] = (
            OrderedDict()
        )

    async def read(
        self,
        workspace: str,
        endpoint: str,
        read: Callable[[], Awaitable[tuple[Endpoint, Target]]],
    ) -> tuple[Endpoint, Target]:
        """The endpoint as `read()` gives it, read at most once every `fresh_s`."""
        key = (workspace, endpoint)
        now = self._clock()
        kept = self._reads.get(key)
        if kept is None or now - kept[0] >= self._fresh_s or _unusable(kept[1]):
            kept = self._reads[key] = (now, asyncio.ensure_future(read()))
            while len(self._reads) > KEPT_TARGETS:
                self._reads.popitem(last=False)
        self._reads.move_to_end(key)
        result: tuple[Endpoint, Target] = await asyncio.shield(kept[1])
        return result


def _unusable(future: asyncio.Future[Any]) -> bool:
    if not future.done():
        return False
    return future.cancelled() or future.exception() is not None or future.result() is None
