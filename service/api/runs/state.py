"""What a run has done so far, read from its batches and tasks (never from counters)."""

from dataclasses import dataclass, field
from typing import Any

from beanie.odm.queries.find import FindMany
from beanie.operators import In

from models import AttackRun, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_BATCH, BatchStatus
from service.api.filters import Condition, where
from service.api.runs.transitions import field_endpoint
from service.redteam.records import is_error_record


@dataclass(frozen=True)
class SentPrompt:
    """One attack prompt of the run: its batch."""

    key: str
    batch_id: str
    prompt: str
    endpoints: tuple[str, ...]
    finished: bool


@dataclass(frozen=True)
class Outcome:
    """What one endpoint made of one attack prompt: its task, once it has ended."""

    key: str
    endpoint: str
    status: TaskStatus
    chat_record_id: int
    answer: str = ""
    error: bool = False
    score: float | None = None
    success: bool | None = None
    explanation: str | None = None
    score_error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is TaskStatus.DONE and not self.error

    @property
    def failed(self) -> bool:
        return self.status is TaskStatus.DONE and self.error


@dataclass
class RunState:
    run: AttackRun
    # Attack prompts stored so far, and how many of them have not ended.
    sent_count: int = 0
    in_flight: int = 0
    # Read only where needed (`read_state`): each attack prompt in the order it was planned,
    # and every task of the run, ended or not, in chat record order per endpoint.
    sent: dict[str, SentPrompt] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def stopped(self) -> dict[str, str]:
        return {field_endpoint(key): reason for key, reason in self.run.stopped.items()}

    @property
    def active(self) -> list[str]:
        stopped = self.stopped
        return [endpoint for endpoint in self.run.endpoints if endpoint not in stopped]

    def outcome(self, key: str, endpoint: str) -> Outcome | None:
        for outcome in self.outcomes:
            if outcome.key == key and outcome.endpoint == endpoint:
                return outcome
        return None


_TASK_FIELDS = {
    "_id": 0, "batch_id": 1, "endpoint": 1, "status": 1, "chat_record_id": 1,
    "record.predicted_result": 1, "record.score": 1, "record.success": 1,
    "record.explanation": 1, "record.score_error": 1,
}
_BATCH_FIELDS = {"_id": 0, "batch_id": 1, "prompt_key": 1, "user_prompt": 1, "endpoints": 1,
                 "status": 1}


async def read_progress(run: AttackRun) -> RunState:
    """How many attack prompts the run has stored and how many of them are unfinished: two
    counts, for planners that need no more."""
    def batches(*more: Condition) -> FindMany[PromptBatch]:
        return PromptBatch.find(
            where(PromptBatch.workspace == run.workspace, PromptBatch.run_id == run.run_id, *more)
        )

    unfinished = batches(In(PromptBatch.status, list(UNFINISHED_BATCH)))
    return RunState(run, sent_count=await batches().count(), in_flight=await unfinished.count())


async def read_state(run: AttackRun) -> RunState:
    """The run's batches and tasks: two indexed queries, whatever the run's size."""
    state = RunState(run)
    keys: dict[str, str] = {}
    batches = PromptBatch.get_pymongo_collection().find(
        {"workspace": run.workspace, "run_id": run.run_id}, _BATCH_FIELDS
    ).sort("created_at", 1)
    async for batch in batches:
        keys[batch["batch_id"]] = batch["prompt_key"]
        state.sent[batch["prompt_key"]] = SentPrompt(
            key=batch["prompt_key"],
            batch_id=batch["batch_id"],
            prompt=batch["user_prompt"],
            endpoints=tuple(batch["endpoints"]),
            finished=BatchStatus(batch["status"]) not in UNFINISHED_BATCH,
        )
    tasks = PromptTask.get_pymongo_collection().find(
        {"workspace": run.workspace, "session_id": run.session_id, "run_id": run.run_id},
        _TASK_FIELDS,
    )
    state.sent_count = len(state.sent)
    state.in_flight = sum(not sent.finished for sent in state.sent.values())
    outcomes = [_outcome(task, keys) async for task in tasks]
    state.outcomes = sorted(outcomes, key=lambda outcome: (outcome.endpoint,
                                                           outcome.chat_record_id))
    return state


def _outcome(task: dict[str, Any], keys: dict[str, str]) -> Outcome:
    record = task.get("record") or {}
    return Outcome(
        key=keys.get(task["batch_id"], ""),
        endpoint=task["endpoint"],
        status=TaskStatus(task["status"]),
        chat_record_id=task["chat_record_id"],
        answer=str(record.get("predicted_result", "")),
        error=bool(record) and is_error_record(record),
        score=record.get("score"),
        success=record.get("success"),
        explanation=record.get("explanation"),
        score_error=record.get("score_error", ""),
    )
