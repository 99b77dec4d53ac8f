"""A run's counts per endpoint, kept on the run as it goes, so reading a run is one read.

Each answer is counted once, by the copy of its task that held its record: holding
(running -> appending) is a conditional write only one copy wins. A process that dies between
the hold and the count leaves one answer uncounted until the run ends, when the counts are made
exact from its tasks (`settle_counts`).
"""

from collections.abc import Iterable, Mapping

from models import AttackRun, PromptTask
from models.runs import run_key
from service.api.runs.state import RunState, read_state
from service.api.runs.transitions import endpoint_field
from service.redteam.records import is_error_record

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


async def count_answer(task: PromptTask) -> None:
    """Count the answer held on `task`; called once, by the copy of the task that held it."""
    record = task.record or {}
    field = f"counts.{endpoint_field(task.endpoint)}"
    increments = {f"{field}.{FAILED if is_error_record(record) else ANSWERED}": 1}
    if record.get("success") and not is_error_record(record):
        increments[f"{field}.{SUCCESSFUL}"] = 1
    await AttackRun.get_pymongo_collection().update_one(
        {"_id": run_key(task.workspace, task.run_id)}, {"$inc": increments}
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
