"""Moonshot's side of the redteam case: one automated red-teaming run, timed.

Runs inside Moonshot's virtualenv (see `bench.moonshot.child`). The session is made with its
attack module set, and the prompt goes where Moonshot's web API sends a prompt of such a session
(`SessionService.send_prompt`): the attack strategy built as it builds it, run by the runner's
`run_red_teaming`. The data folder holds the attack module, its configurations and the
endpoints (`bench.moonshot.redteam_data`).
"""

import asyncio
import time
from typing import Any

from moonshot.api import (
    api_create_runner,
    api_create_session,
    api_get_all_chats_from_session,
    api_load_session,
)

# Moonshot's web API sends the chats of an automated run back in batches of this many.
CHAT_BATCH_SIZE = 5


def run(name: str, endpoints: list[str], attack_module: str, prompt: str) -> dict[str, Any]:
    """Run `attack_module` on `prompt` over `endpoints`; its wall time and what it stored."""
    runner = api_create_runner(name, endpoints)
    api_create_session(
        runner.id, runner.database_instance, runner.endpoints, {"attack_module": attack_module}
    )
    metadata = api_load_session(runner.id) or {}
    strategy = {
        "prompt": prompt,
        "system_prompt": metadata.get("system_prompt", ""),
        "context_strategy_info": [],
        "prompt_template_ids": [],
        "attack_module_id": metadata.get("attack_module", ""),
        "metric_ids": [],
    }
    started = time.perf_counter()
    asyncio.run(
        runner.run_red_teaming(
            {"attack_strategies": [strategy], "chat_batch_size": CHAT_BATCH_SIZE}
        )
    )
    seconds = time.perf_counter() - started
    chats = api_get_all_chats_from_session(runner.id)
    return {
        "seconds": seconds,
        "records": {endpoint: len(chats.get(endpoint, [])) for endpoint in endpoints},
        "attack_modules": sorted(
            {chat.get("attack_module", "") for records in chats.values() for chat in records}
        ),
        "answered": sum(
            1 for records in chats.values() for chat in records if chat.get("predicted_result")
        ),
    }
