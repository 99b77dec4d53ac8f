"""A run's counts per endpoint, kept on the run as it goes, so reading a run is one read.

Attack prompts are counted as sent when they are stored; their answers once their batch has
ended, all of the batch's in one update, by whoever gave the batch its final status (a
conditional write only one caller wins): one update per attack prompt, not one per answer. A
process that dies between the two leaves that batch's answers uncounted until the run ends,
when the counts are made exact from its tasks (`exact_counts`), in the same write as its final
status when it is done, so no count of a batch that ended just before can come after them.
"""

from collections import Counter
from collections.abc import Iterable, Mapping

from models import AttackRun, PromptBatch, PromptTask
from models.batches import ANSWERED_TASK, TaskStatus, task_keys
from models.runs import UNFINISHED_RUN, run_key
from service.api.runs.state import RunState, read_state
from service.api.runs.transitions import endpoint_field

SENT, ANSWERED, FAILED, SUCCESSFUL = "sent", "answered", "failed", "successful"
KINDS = (SENT, ANSWERED, FAILED, SUCCESSFUL)


async def count_sent(run: AttackRun, endpoints: Iterable[str], amount: int = 1) -> None:
    """`amount` more attack prompts sent to each of `endpoints` (fewer, when negative)."""
    await count_sent_each(run, dict.fromkeys(endpoints, amount))


async def count_sent_each(run: AttackRun, amounts: Mapping[str, int]) -> None:
    """So many more attack prompts sent to each endpoint, in one update."""
    increments = {
        f"counts.{endpoint_field(endpoint)}.{SENT}": amount
        for endpoint, amount in amounts.items() if amount
    }
    if increments:
        await AttackRun.get_pymongo_collection().update_one(
            {"_id": run.id}, {"$inc": increments}
        )


async def count_batch(batch: PromptBatch) -> None:
    """Count the answers of a run's batch that has just ended; called once, by whoever ended
    it. Its tasks are read by `_id`, for the fields the count needs."""
    tasks = PromptTask.get_pymongo_collection().find(
        {"_id": {"$in": task_keys(batch)}},
        {"endpoint": 1, "status": 1, "error": 1, "record.success": 1},
    )
    increments: Counter[str] = Counter()
    async for task in tasks:
        if TaskStatus(task["status"]) not in ANSWERED_TASK:
            continue
        field = f"counts.{endpoint_field(task['endpoint'])}"
        increments[f"{field}.{FAILED if task.get('error') else ANSWERED}"] += 1
        if not task.get("error") and (task.get("record") or {}).get("success"):
            increments[f"{field}.{SUCCESSFUL}"] += 1
    if increments:
        # Not once the run has ended: its end made the counts exact from its tasks, this
        # batch's included (its tasks ended before it did).
        await AttackRun.get_pymongo_collection().update_one(
            {"_id": run_key(batch.workspace, batch.run_id),
             "status": {"$in": [status.value for status in UNFINISHED_RUN]}},
            {"$inc": dict(increments)},
        )


def exact_counts(state: RunState) -> dict[str, dict[str, int]]:
    """The counts as the run's tasks tell them (cancelled tasks were never sent)."""
    counts = {endpoint_field(endpoint): dict.fromkeys(KINDS, 0) for endpoint in state.run.endpoints}
    for outcome in state.outcomes:
        if outcome.status.value == "cancelled":
            continue
        count = counts.setdefault(endpoint_field(outcome.endpoint), dict.fromkeys(KINDS, 0))
        count[SENT] += 1
        count[ANSWERED] += outcome.answered
        count[FAILED] += outcome.failed
        count[SUCCESSFUL] += bool(outcome.answered and outcome.success)
    return counts


async def settle_counts(run: AttackRun) -> None:
    """Make the run's counts exact from its tasks: once, when it has ended."""
    counts = exact_counts(await read_state(run))
    await AttackRun.get_pymongo_collection().update_one(
        {"_id": run.id}, {"$set": {"counts": counts}}
    )
