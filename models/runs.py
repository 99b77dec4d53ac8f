"""Red-teaming runs: an attack module turning one seed prompt into many attack prompts.

A run is stored before anything is queued. Each attack prompt becomes a prompt batch whose id
follows from the run's id and the prompt's key, so planning the same prompt twice (a
redelivered step, a restart) stores it once.
"""

from enum import StrEnum
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.keys import SEPARATOR


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    # The module itself could not go on (its attacker failed, its configuration is unusable).
    FAILED = "failed"


UNFINISHED_RUN = (RunStatus.QUEUED, RunStatus.RUNNING)


def run_key(workspace: str, run_id: str) -> str:
    return SEPARATOR.join((workspace, run_id))


def run_batch_id(run_id: str, prompt_key: str) -> str:
    """The batch of one attack prompt of a run: planned twice, it is still one batch."""
    return f"{run_id}.{prompt_key}"


class AttackRun(Document):
    """One run of an attack module on a session; `_id` is `workspace|run_id`."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    # The session's `created_epoch`: a session deleted and made again is another session.
    session_epoch: str
    run_id: str
    attack_module: str
    metric: str = ""
    seed_prompt: str
    history_length: int = 10
    # The session's endpoints when the run started: the targets.
    endpoints: list[str] = Field(default_factory=list)
    # The module's and the metric's workspace settings when the run started.
    module_configurations: dict[str, Any] = Field(default_factory=dict)
    module_endpoints: list[str] = Field(default_factory=list)
    metric_configurations: dict[str, Any] = Field(default_factory=dict)
    metric_endpoints: list[str] = Field(default_factory=list)
    seed: int = 0
    max_iteration: int
    stop_on_success: bool = True
    parallel_prompts: int = 10
    # Attack prompts a generator got from its attacker: asked once, so a resumed run reuses them.
    generated_prompts: list[str] | None = None
    # Endpoints no longer attacked, each with why ("attack succeeded", "failing: ...").
    stopped: dict[str, str] = Field(default_factory=dict)
    # Per endpoint: attack prompts sent, answered, failed and successful. Kept as the run goes
    # (each answer counted once, `service.api.runs.counting`) and made exact from its tasks when
    # the run ends, so reading a run never reads its tasks.
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    status: RunStatus = RunStatus.QUEUED
    reason: str = ""
    # One step at a time (`service.api.runs.transitions.take_turn`): who steps, until when at
    # the latest (a stepper that died frees it then), and whether a step was asked meanwhile.
    stepper: str | None = None
    stepping_until: float | None = None
    step_wanted: bool = False
    created_by: str = ""
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None

    class Settings:
        name = "attack_runs"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING), ("created_at", DESCENDING)],
                name="workspace_session_created",
            ),
            # Start-up and the workers' sweep look for unfinished runs of every workspace.
            IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
        ]
