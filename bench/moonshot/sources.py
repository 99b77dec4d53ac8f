"""Moonshot's side of the import case: Moonshot makes a session of K records and says what it holds.

Runs inside Moonshot's virtualenv (see `bench.moonshot.child`). The records go in through
Moonshot's own storage call, each committed on its own as its red-teaming module commits them;
what Moonshot then answers for the session is written out, one record per line, for the harness
to check Sparring's import against, record by record.
"""

import json
import time
from pathlib import Path
from typing import Any

from moonshot.api import (
    api_create_runner,
    api_create_session,
    api_get_all_chats_from_session,
    api_load_session,
    api_update_cs_num_of_prev_prompts,
    api_update_system_prompt,
)
from moonshot.src.storage.storage import Storage

from bench.moonshot.chats import FIELDS, INSERT_CHAT_RECORD
from bench.workload import SYSTEM_PROMPTS, chat_record, runner_name

# Far above the runner numbers of the other cases.
IMPORT_RUNNER = 97_000


def make_session(records: int, endpoints: list[str], chats_file: str) -> dict[str, Any]:
    """A runner whose session holds `records` records spread over `endpoints` in turn."""
    runner = api_create_runner(
        runner_name(IMPORT_RUNNER), endpoints, description="Made by Moonshot for the import case"
    )
    api_create_session(runner.id, runner.database_instance, runner.endpoints, {})
    api_update_system_prompt(runner.id, SYSTEM_PROMPTS[1])
    api_update_cs_num_of_prev_prompts(runner.id, 3)
    statements = {
        endpoint: INSERT_CHAT_RECORD.format(endpoint.replace("-", "_")) for endpoint in endpoints
    }
    numbers = dict.fromkeys(endpoints, 0)
    started = time.perf_counter()
    for position in range(records):
        endpoint = endpoints[position % len(endpoints)]
        numbers[endpoint] += 1
        record = chat_record(numbers[endpoint], endpoint)
        record["duration"] = str(record["duration"])
        Storage.create_database_record(
            runner.database_instance, tuple(record[field] for field in FIELDS),
            statements[endpoint],
        )
    fill_s = time.perf_counter() - started
    chats = api_get_all_chats_from_session(runner.id)
    with Path(chats_file).open("w", encoding="utf-8") as output:
        for endpoint in endpoints:
            for chat in chats[endpoint]:
                output.write(json.dumps({"endpoint": endpoint, **chat}) + "\n")
    metadata = api_load_session(runner.id)
    return {
        "runner_id": runner.id,
        "counts": {endpoint: len(chats[endpoint]) for endpoint in endpoints},
        "fill_s": fill_s,
        "metadata": {key: value if isinstance(value, (str, int, list)) else str(value)
                     for key, value in metadata.items()},
    }
