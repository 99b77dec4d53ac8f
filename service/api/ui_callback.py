"""A red-teaming run's progress in Moonshot's red-teaming progress shape, read from stored events.

Moonshot's web UI, in attack mode, gets the session id at once and the chats later, on its
webhook: every `chat_batch_size` records (5) a body with those records and `RUNNING`, and at the
end one with what is left and `COMPLETED`. The bodies come from the session's event log, so they
are the same whichever process runs the tasks (in process or Redis workers).
"""

from collections.abc import AsyncIterator
from typing import Any

from models import RunStatus
from models.runs import UNFINISHED_RUN
from service.api.events import Event, follow_events
from service.api.runs import StartedRun
from service.api.schemas import DEFAULT_WORKSPACE

# Moonshot's web API runs attack modules with `chat_batch_size` 5 (RedTeamingProgress).
CHAT_BATCH_SIZE = 5
RUNNING = "RUNNING"
# Moonshot ends every automated run with COMPLETED, whatever became of it.
COMPLETED = "COMPLETED"
RUN_FINISHED = frozenset(status.value for status in RunStatus if status not in UNFINISHED_RUN)


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


def _ends(started: StartedRun, event: Event) -> bool:
    return (
        event.name == "run" and event.data.get("run_id") == started.run_id
        and event.data.get("status") in RUN_FINISHED
    )


def _belongs(started: StartedRun, event: Event) -> bool:
    # A run's batches are named after it (`models.runs.run_batch_id`).
    return str(event.data.get("batch_id", "")).startswith(f"{started.run_id}.")


async def run_progress(
    started: StartedRun,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    chat_batch_size: int = CHAT_BATCH_SIZE,
) -> AsyncIterator[dict[str, Any]]:
    """The run's progress bodies in order, the last one `COMPLETED`.

    Ends once the run has a final status, or when the session is deleted (then too with a
    `COMPLETED` body, so a waiting client stops waiting).
    """
    chats: dict[str, list[dict[str, Any]]] = {}
    count = 0
    async for event in follow_events(started.runner_id, after=started.after, workspace=workspace):
        if event is None:
            continue
        if _ends(started, event):
            break
        if event.name != "chat_record" or not _belongs(started, event):
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
