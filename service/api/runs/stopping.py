"""Stopping an endpoint of a run as soon as an answer says so: the attack succeeded on it (with
`stop_on_success`), or its calls keep failing (a 401, a 5xx after retries), which would only
spend the rest of its budget the same way."""


from models import AttackRun, PromptBatch, PromptTask, TaskStatus
from models.batches import ANSWERED_TASK, batch_key
from models.runs import run_key
from service.api.prompting.settling import settle_batch
from service.api.prompting.transitions import NOT_APPENDING, cancel_tasks
from service.api.runs.counting import count_batch, count_sent
from service.api.runs.transitions import stop_endpoint
from service.redteam.records import is_error_record

FAILURES_IN_A_ROW = 3
SUCCEEDED = "the attack succeeded (stop_on_success)"
# How much of the last failed answer a stop reason quotes.
QUOTED = 300


async def after_answer(task: PromptTask) -> None:
    """Stop `task`'s endpoint if its answer (stored on the task) calls for it; the run is read
    only then."""
    record = task.record or {}
    key = run_key(task.workspace, task.run_id)
    if record.get("success"):
        run = await AttackRun.get(key)
        if run is not None and run.stop_on_success:
            await _stop(run, task.endpoint, SUCCEEDED)
    elif is_error_record(record):
        reason = await _failing(task)
        run = await AttackRun.get(key) if reason else None
        if run is not None:
            await _stop(run, task.endpoint, reason)


async def _failing(task: PromptTask) -> str:
    """Why the task's endpoint is stopped for failing, or "" while its last answers are not
    all failures."""
    # Answers are held (appending) before they are appended (done): both count. The status is
    # checked here: the embedded server plans a filter with an index only when the index holds
    # every field the filter names.
    tasks = PromptTask.get_pymongo_collection().find(
        {"workspace": task.workspace, "session_id": task.session_id, "run_id": task.run_id,
         "endpoint": task.endpoint},
        {"_id": 0, "status": 1, "record.predicted_result": 1},
    ).sort("chat_record_id", -1)
    records: list[dict] = []
    async for found in tasks:
        if found["status"] in ANSWERED_TASK:
            records.append(found.get("record") or {})
            if len(records) == FAILURES_IN_A_ROW:
                break
    await tasks.close()
    if len(records) < FAILURES_IN_A_ROW or not all(map(is_error_record, records)):
        return ""
    answer = str(records[0].get("predicted_result", ""))[:QUOTED]
    return f"its last {FAILURES_IN_A_ROW} calls failed; the last answer was: {answer}"


async def _stop(run: AttackRun, endpoint: str, reason: str) -> None:
    if not await stop_endpoint(run, endpoint, reason):
        return
    # Its tasks that have not held an answer never will; those that have land. Read by the
    # index's fields alone and the status checked here (`_failing` says why).
    collection = PromptTask.get_pymongo_collection()
    query = {"workspace": run.workspace, "session_id": run.session_id, "run_id": run.run_id,
             "endpoint": endpoint}
    waiting = {
        task["_id"]: task["batch_id"]
        async for task in collection.find(query, {"batch_id": 1, "status": 1})
        if TaskStatus(task["status"]) in NOT_APPENDING
    }
    if not waiting:
        return
    cancelled = await cancel_tasks(list(waiting))
    batch_ids = list(dict.fromkeys(waiting.values()))
    # Never sent after all.
    await count_sent(run, [endpoint], -cancelled)
    for batch_id in batch_ids:
        batch = await PromptBatch.get(batch_key(run.workspace, batch_id))
        if batch is not None:
            # The endpoint's cancelled task may have been the last one its batch waited for.
            await settle_batch(batch, settled=lambda batch, status: count_batch(batch))
