"""What Moonshot's data folder needs for the redteam case, written by the harness: the attack
module and its configurations, and one endpoint per target served by the fake OpenAI server.

Standard library only: the harness imports it, Moonshot never does.
"""

import json
import shutil
from pathlib import Path
from typing import Any

from bench.moonshot.venv import MODULES

ATTACK_MODULE = "charswap_attack"
CONNECTOR = "bench_openai"
# Moonshot rate-limits every connector; set high enough never to bind here, as on Sparring.
MAX_CALLS_PER_SECOND = 100_000
MAX_CONCURRENCY = 1_000


def add_attack_data(
    data: Path,
    configurations: dict[str, Any],
    endpoints: list[str],
    *,
    uri: str,
    token: str,
    model: str,
) -> None:
    """Put the attack module, the connector and `endpoints` (all on `uri`) into `data`."""
    shutil.copyfile(
        MODULES / f"{ATTACK_MODULE}.py", data / "attack-modules" / f"{ATTACK_MODULE}.py"
    )
    shutil.copyfile(MODULES / f"{CONNECTOR}.py", data / "connectors" / f"{CONNECTOR}.py")
    # Moonshot's attack_modules_config.json: each module's endpoints and configurations.
    (data / "attack-modules" / "attack_modules_config.json").write_text(
        json.dumps({ATTACK_MODULE: {"endpoints": [], "configurations": configurations}}, indent=2)
    )
    for endpoint in endpoints:
        (data / "connectors-endpoints" / f"{endpoint}.json").write_text(
            json.dumps(
                {
                    "name": endpoint, "connector_type": CONNECTOR, "uri": uri, "token": token,
                    "max_calls_per_second": MAX_CALLS_PER_SECOND,
                    "max_concurrency": MAX_CONCURRENCY, "model": model,
                    # One attempt, as on Sparring: a failure shows as a missing record.
                    "params": {"timeout": 60, "max_attempts": 1},
                },
                indent=2,
            )
        )
