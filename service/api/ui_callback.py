"""A prompt batch's progress in Moonshot's red-teaming progress shape, read from stored events.

Moonshot's web UI, in attack mode, gets the session id at once and the chats later, on its
webhook: every `chat_batch_size` records (5) a body with those records and `RUNNING`, and at the
end one with what is left and `COMPLETED`. The bodies come from the session's event log, so they
are the same whichever process runs the tasks (in process or Redis workers).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from models import BatchStatus
from models.batches import UNFINISHED_BATCH
from service.api.events import follow_events, last_event_seq
from service.api.limits import DEFAULT_LIMITS, Limits
from service.api.prompting import DEFAULT_HISTORY_LENGTH, Enqueue, create_batch
from service.api.prompting.admission import queue_cap
from service.api.schemas import DEFAULT_WORKSPACE

# Moonshot's web API runs attack modules with `chat_batch_size` 5 (RedTeamingProgress).
CHAT_BATCH_SIZE = 5
RUNNING = "RUNNING"
# Moonshot ends every automated run with COMPLETED, whatever became of it.
COMPLETED = "COMPLETED"
FINISHED = frozenset(status.value for status in BatchStatus if status not in UNFINISHED_BATCH)


@dataclass(frozen=True)
class StartedBatch:
    """A batch stored and queued, and the session's last event number before it was stored."""

    runner_id: str
    batch_id: str
    after: int


async def start_batch(
    runner_id: str,
    user_prompt: str,
    history_length: int | None = DEFAULT_HISTORY_LENGTH,
    *,
    enqueue: Enqueue,
    workspace: str = DEFAULT_WORKSPACE,
    created_by: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> StartedBatch:
    """Store and queue a batch without waiting for it; its events all come after `after`.

    The batch is admitted and checked as `api_send_prompt`'s are (the queue's cap, `limits`).
    """
    # Read before the batch exists, so that a follower starting from it misses none of its events.
    after = await last_event_seq(runner_id, workspace=workspace)
    batch_id, task_ids = await create_batch(
        runner_id, user_prompt, history_length, workspace=workspace, created_by=created_by,
        max_queued=queue_cap(enqueue), limits=limits,
    )
    await enqueue(task_ids)
    return StartedBatch(runner_id=runner_id, batch_id=batch_id, after=after)


def progress_body(
    runner_id: str, chats: dict[str, list[dict[str, Any]]], batch_size: int, status: str
) -> dict[str, Any]:
    """Moonshot's `RedTeamingProgress.get_dict()` keys its web UI reads."""
    return {
        "current_runner_id": runner_id,
        "current_chats": chats,
        "current_batch_size": batch_size,
        "current_status": status,
    }


async def batch_progress(
    started: StartedBatch,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    chat_batch_size: int = CHAT_BATCH_SIZE,
) -> AsyncIterator[dict[str, Any]]:
    """The batch's progress bodies in order, the last one `COMPLETED`.

    Ends once the batch has a final status, or when the session is deleted (then too with a
    `COMPLETED` body, so a waiting client stops waiting).
    """
    chats: dict[str, list[dict[str, Any]]] = {}
    count = 0
    async for event in follow_events(started.runner_id, after=started.after, workspace=workspace):
        if event is None or event.data.get("batch_id") != started.batch_id:
            continue
        if event.name == "batch":
            if event.data.get("status") in FINISHED:
                break
            continue
        record = event.data.get("chat_record")
        if record is None:
            continue
        chats.setdefault(event.data["conn_id"], []).append(record)
        count += 1
        if count >= chat_batch_size:
            yield progress_body(started.runner_id, chats, chat_batch_size, RUNNING)
            chats, count = {}, 0
    yield progress_body(started.runner_id, chats, chat_batch_size, COMPLETED)
