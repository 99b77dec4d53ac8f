"""Prompt batches: one user prompt fanned out to a session's endpoints, one task per endpoint.

Both are written before anything is queued, so a restart or a dead worker loses nothing.
"""

from enum import StrEnum
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.keys import SEPARATOR


class BatchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # The record is built and stored on the task; only its append is left.
    APPENDING = "appending"
    DONE = "done"
    CANCELLED = "cancelled"


UNFINISHED_BATCH = (BatchStatus.QUEUED, BatchStatus.RUNNING)
UNFINISHED_TASK = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.APPENDING)
# A task holding its answer: built and stored on it (appending), or appended (done).
ANSWERED_TASK = (TaskStatus.APPENDING, TaskStatus.DONE)


def batch_key(workspace: str, batch_id: str) -> str:
    return SEPARATOR.join((workspace, batch_id))


def task_key(workspace: str, batch_id: str, endpoint: str) -> str:
    return SEPARATOR.join((workspace, batch_id, endpoint))


def task_keys(batch: "PromptBatch") -> list[str]:
    """The `_id`s of the batch's tasks, one per endpoint."""
    return [task_key(batch.workspace, batch.batch_id, endpoint) for endpoint in batch.endpoints]


class PromptBatch(Document):
    """One prompt sent to every endpoint of a session; `_id` is `workspace|batch_id`."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    # The session's `created_epoch`: a session deleted and made again is another session.
    session_epoch: str
    batch_id: str
    user_prompt: str
    history_length: int = 10
    endpoints: list[str] = Field(default_factory=list)
    # The session's template, context strategy, system prompt... when the prompt was sent.
    prompt_settings: dict[str, Any] = Field(default_factory=dict)
    status: BatchStatus = BatchStatus.QUEUED
    created_by: str = ""
    created_at: float
    finished_at: float | None = None
    # Set on the batches of a red-teaming run: the run, and which of its attack prompts this is.
    run_id: str = ""
    prompt_key: str = ""
    # Endpoints whose record is appended, each added by its task in one `$addToSet`; their
    # tasks may still read appending. The task that completes it ends them all and settles the
    # batch, so the others neither end themselves nor read the batch's tasks (a prompt sent by
    # hand; a run's tasks end one by one).
    ended: list[str] = Field(default_factory=list)

    class Settings:
        name = "prompt_batches"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING), ("created_at", ASCENDING)],
                name="workspace_session_created",
            ),
            # Start-up looks for unfinished batches of every workspace: the one unscoped query.
            IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
            IndexModel(
                [("workspace", ASCENDING), ("run_id", ASCENDING), ("created_at", ASCENDING)],
                name="workspace_run_created",
            ),
            # A session's or a run's unfinished batches (a cancel; each step of a run counts
            # them). The embedded server uses an index only when it holds every field a filter
            # names, so the status is in these two.
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING), ("status", ASCENDING)],
                name="workspace_session_status",
            ),
            IndexModel(
                [("workspace", ASCENDING), ("run_id", ASCENDING), ("status", ASCENDING)],
                name="workspace_run_status",
            ),
        ]


class PromptTask(Document):
    """The prompt of a batch for one endpoint; `_id` is `workspace|batch_id|endpoint`.

    Its `chat_record_id` is reserved when it is created, so however often it runs, it appends
    one record. `record` holds that record from the moment it is built, so a worker that dies
    before appending leaves it for the next one to append.
    """

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    batch_id: str
    endpoint: str
    chat_record_id: int
    status: TaskStatus = TaskStatus.QUEUED
    error: str = ""
    record: dict[str, Any] | None = None
    created_at: float
    finished_at: float | None = None
    # The red-teaming run the task's batch belongs to ("" for a prompt sent by hand).
    run_id: str = ""

    class Settings:
        name = "prompt_tasks"
        # Every index costs each of a task's writes (three per call; about 0.4 ms an index on
        # the embedded server), so there are only those a query needs: a batch's tasks are
        # read by `_id` (`service.api.prompting.batches.tasks_of`).
        indexes = [
            # Deleting a session finds its tasks by its first two fields; a run's tasks (its
            # state, its counts, an endpoint's last answers) by all four.
            IndexModel(
                [
                    ("workspace", ASCENDING),
                    ("session_id", ASCENDING),
                    ("run_id", ASCENDING),
                    ("endpoint", ASCENDING),
                ],
                name="workspace_session_run_endpoint",
            ),
            # Counting a workspace's unfinished tasks, against its cap on queued tasks.
            IndexModel(
                [("workspace", ASCENDING), ("status", ASCENDING)], name="workspace_status"
            ),
        ]
