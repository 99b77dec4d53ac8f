"""A run's status changes: each one conditional write by `_id`, then its event, once."""

import time
from collections.abc import Sequence
from typing import Any

from models import AttackRun, EventKind, RunStatus
from models.runs import UNFINISHED_RUN
from service.api.events import log_event
from service.metrics.recording import run_status_changed


async def move_run(
    run: AttackRun,
    status: RunStatus,
    *,
    from_: Sequence[RunStatus],
    reason: str = "",
    log: bool = True,
    counts: dict[str, dict[str, int]] | None = None,
) -> bool:
    """One of `from_` -> `status`, then its event; False (and nothing logged) if it was in none.

    Running stamps `started_at`; a final status stamps `ended_at` and keeps `reason`; `counts`
    are set with it. With `log=False` the caller logs the event itself (`log_run_status`),
    once it may be seen.
    """
    now = time.time()
    changes: dict[str, Any] = {"status": status.value}
    if counts is not None:
        changes["counts"] = counts
    if status is RunStatus.RUNNING:
        changes["started_at"] = now
    if status not in UNFINISHED_RUN:
        changes["ended_at"] = now
        if reason:
            changes["reason"] = reason
    result = await AttackRun.get_pymongo_collection().update_one(
        {"_id": run.id, "status": {"$in": [value.value for value in from_]}}, {"$set": changes}
    )
    if not result.modified_count:
        return False
    if log:
        await log_run_status(run, status)
    return True


async def log_run_status(run: AttackRun, status: RunStatus) -> None:
    run_status_changed(status)
    await log_event(
        run.workspace,
        run.session_id,
        run.session_epoch,
        f"run|{run.run_id}|{status.value}",
        EventKind.RUN,
        "",
        status=status.value,
        run_id=run.run_id,
    )


async def stop_endpoint(run: AttackRun, endpoint: str, reason: str) -> bool:
    """Note that `endpoint` is no longer attacked, and why; False if it was already stopped."""
    result = await AttackRun.get_pymongo_collection().update_one(
        {"_id": run.id, f"stopped.{endpoint_field(endpoint)}": {"$exists": False}},
        {"$set": {f"stopped.{endpoint_field(endpoint)}": reason}},
    )
    return bool(result.modified_count)


def endpoint_field(endpoint: str) -> str:
    """The key an endpoint has in a run's per-endpoint fields (`stopped`, `counts`)."""
    # Endpoint ids are slugs; a dot or a leading `$` would make a field path of its own.
    return endpoint.replace(".", "\uff0e").replace("$", "\uff04")


def field_endpoint(field: str) -> str:
    """The endpoint id a key of a run's per-endpoint fields stands for."""
    return field.replace("\uff0e", ".").replace("\uff04", "$")


# A step runs in seconds; one that holds its turn this long died, and the turn is free again.
TURN_LEASE_S = 120.0


def _free_or_mine(key: str, token: str, now: float) -> dict[str, Any]:
    return {
        "_id": key,
        "$or": [{"stepper": None}, {"stepper": token}, {"stepping_until": {"$lt": now}}],
    }


async def take_turn(key: str, token: str) -> bool:
    """Take the run's turn to step (`token` names the taker); False if another step has it.

    A step that finds the turn taken asks the stepper to step once more, so what it came to do
    is done either way: the stepper sees the ask when it ends its turn (`end_turn`).
    """
    collection = AttackRun.get_pymongo_collection()
    now = time.time()
    take = {"$set": {"stepper": token, "stepping_until": now + TURN_LEASE_S,
                     "step_wanted": False}}
    if (await collection.update_one(_free_or_mine(key, token, now), take)).matched_count:
        return True
    await collection.update_one({"_id": key}, {"$set": {"step_wanted": True}})
    # The stepper may have ended its turn between the two writes, missing the ask: try again.
    return bool((await collection.update_one(_free_or_mine(key, token, now), take)).matched_count)


async def end_turn(key: str, token: str) -> bool:
    """Give the turn up; True when another step was asked for meanwhile (the caller then
    sees that one is taken)."""
    before = await AttackRun.get_pymongo_collection().find_one_and_update(
        {"_id": key, "stepper": token},
        {"$set": {"stepper": None, "stepping_until": None, "step_wanted": False}},
        projection={"step_wanted": True},
    )
    return bool(before and before.get("step_wanted"))


async def store_generated_prompts(run: AttackRun, prompts: list[str]) -> list[str]:
    """Keep a generator's prompts once: whoever stores first wins, and everyone uses those."""
    collection = AttackRun.get_pymongo_collection()
    await collection.update_one(
        {"_id": run.id, "generated_prompts": None}, {"$set": {"generated_prompts": prompts}}
    )
    stored = await collection.find_one({"_id": run.id}, {"generated_prompts": 1})
    return list((stored or {}).get("generated_prompts") or prompts)
