"""Moonshot's side of the chats case: append K records to one endpoint one by one, read them all.

Runs inside Moonshot's virtualenv (see `bench.moonshot.child`).
"""

import json
import time
from typing import Any

from moonshot.api import (
    api_create_runner,
    api_create_session,
    api_get_all_chats_from_session,
)
from moonshot.src.storage.storage import Storage

from bench.timing import Bound, measure
from bench.workload import ENDPOINT, SESSION_ENDPOINTS, chat_record, runner_name

# The statement Moonshot's red-teaming module appends a chat record with.
INSERT_CHAT_RECORD = (
    "INSERT INTO {} (connection_id,context_strategy,prompt_template,attack_module,metric,"
    "prompt,prepared_prompt,system_prompt,predicted_result,duration,prompt_time) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?)"
)
FIELDS = (
    "conn_id", "context_strategy", "prompt_template", "attack_module", "metric", "prompt",
    "prepared_prompt", "system_prompt", "predicted_result", "duration", "prompt_time",
)
# Chat sessions use runner numbers far above those of the sessions case.
FIRST_CHAT_RUNNER = 90_000
FIRST_APPEND_RUNNER = 95_000


def measure_size(position: int, size: int, bound: Bound) -> dict[str, Any]:
    """Append `size` records one by one to a new session, then read all its chats."""
    runner = api_create_runner(runner_name(FIRST_CHAT_RUNNER + position), SESSION_ENDPOINTS)
    api_create_session(runner.id, runner.database_instance, runner.endpoints, {})
    statement = INSERT_CHAT_RECORD.format(ENDPOINT.replace("-", "_"))
    rows = [_row(number) for number in range(1, size + 1)]
    appends = measure(
        lambda i: Storage.create_database_record(runner.database_instance, rows[i], statement),
        Bound(size, 1e9),
    )
    chats = api_get_all_chats_from_session(runner.id)
    if len(chats[ENDPOINT]) != size:
        raise RuntimeError(f"Moonshot returned {len(chats[ENDPOINT])} of {size} records.")
    return {
        "append": appends,
        "read_all": measure(lambda i: api_get_all_chats_from_session(runner.id), bound),
        "json_bytes": len(json.dumps(chats)),
    }


def run(sizes: list[int], count: int, seconds: float) -> dict[str, Any]:
    return {
        str(size): measure_size(position, size, Bound(count, seconds))
        for position, size in enumerate(sizes)
    }


def appends(records: int) -> dict[str, Any]:
    """Append `records` records one by one to a fresh session, each committed on its own."""
    runner = api_create_runner(runner_name(FIRST_APPEND_RUNNER), SESSION_ENDPOINTS)
    api_create_session(runner.id, runner.database_instance, runner.endpoints, {})
    statement = INSERT_CHAT_RECORD.format(ENDPOINT.replace("-", "_"))
    rows = [_row(number) for number in range(1, records + 1)]
    samples = measure(
        lambda i: Storage.create_database_record(runner.database_instance, rows[i], statement),
        Bound(records, 1e9),
    )
    return {"append": samples}


def read_back(runner_ids: list[str]) -> dict[str, Any]:
    """The chats of each session, for checking what a load test wrote."""
    started = time.perf_counter()
    chats = {runner_id: api_get_all_chats_from_session(runner_id) for runner_id in runner_ids}
    return {"chats": chats, "seconds": time.perf_counter() - started}


def _row(number: int) -> tuple:
    record = chat_record(number)
    record["duration"] = str(record["duration"])
    return tuple(record[field] for field in FIELDS)
