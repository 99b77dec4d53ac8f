"""What one process's prompt tasks and prompt handlers share about batches, kept in memory.

The tasks of a batch run side by side in one process (all of them in process, several per
worker through Redis) and each needs the same stored batch: one read serves them all. A
handler waiting for its batch in the process that runs the batch's tasks is told of the end
directly, at the moment a task of this process settles it, rather than asking the database.
Both are per process (held by its `Runtime`), never shared through a module.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from models import PromptBatch

# Batches whose read is kept: more than the batches one process runs at once.
KEPT_BATCHES = 1024


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


def _unusable(future: asyncio.Future[Any]) -> bool:
    if not future.done():
        return False
    return future.cancelled() or future.exception() is not None or future.result() is None
