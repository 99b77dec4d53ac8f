"""Builds Moonshot data folders for the import tests: JSON files and runner SQLite databases
with Moonshot 0.7.6's schema, and the chat records Moonshot would answer for them."""

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SESSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS session_metadata_table (session_id text PRIMARY KEY NOT NULL, "
    "endpoints text NOT NULL, created_epoch text NOT NULL, created_datetime text NOT NULL, "
    "prompt_template text, context_strategy text, cs_num_of_prev_prompts INTEGER, "
    "attack_module text, metric text, system_prompt text)"
)
CHAT_TABLE = (
    "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "connection_id text NOT NULL, context_strategy text, prompt_template text, "
    "attack_module text, metric text, prompt text NOT NULL, prepared_prompt text NOT NULL, "
    "system_prompt text, predicted_result text NOT NULL, duration text NOT NULL, "
    "prompt_time text NOT NULL)"
)
INSERT_CHAT = (
    "INSERT INTO {} (connection_id,context_strategy,prompt_template,attack_module,metric,"
    "prompt,prepared_prompt,system_prompt,predicted_result,duration,prompt_time) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?)"
)
MOONSHOT_FIELDS = (
    "conn_id", "context_strategy", "prompt_template", "attack_module", "metric", "prompt",
    "prepared_prompt", "system_prompt", "predicted_result", "duration", "prompt_time",
)


def moonshot_record(number: int, endpoint: str, *, tag: str = "") -> dict[str, Any]:
    """Record `number` of an endpoint as Moonshot answers it (`duration` as text)."""
    return {
        "chat_record_id": number,
        "conn_id": endpoint,
        "context_strategy": "add_previous_prompt" if number % 3 == 0 else "",
        "prompt_template": "polite-answer",
        "attack_module": "",
        "metric": "",
        "prompt": f"{tag}prompt {number} to {endpoint}: ünïcode ✓ 'quotes' \"double\"",
        "prepared_prompt": f"Answer this: {tag}prompt {number}",
        "system_prompt": "Be terse." if number % 2 else "",
        "predicted_result": f"answer {number} from {endpoint}\nsecond line",
        "duration": str(0.001 * number),
        "prompt_time": f"2025-01-{1 + number % 28:02d} 10:{number % 60:02d}:00.123456",
    }


@dataclass
class RunnerSpec:
    """A runner to write, its session and the records each endpoint holds."""

    runner_id: str
    name: str
    endpoints: list[str]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created_epoch: float = 1_732_000_000.25
    created_datetime: str = "20241119-071040"


def runner_spec(
    runner_id: str, counts: dict[str, int], *, tag: str = "", **settings: Any
) -> RunnerSpec:
    return RunnerSpec(
        runner_id=runner_id,
        name=runner_id.replace("-", " ").title(),
        endpoints=list(counts),
        records={
            endpoint: [moonshot_record(n, endpoint, tag=tag) for n in range(1, count + 1)]
            for endpoint, count in counts.items()
        },
        settings=settings,
        description=f"Runner {runner_id} from Moonshot",
    )


class MoonshotFolder:
    """A Moonshot data folder under `root`, written file by file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("connectors-endpoints", "prompt-templates", "attack-modules", "metrics",
                       "generated-outputs/runners", "generated-outputs/databases"):
            (root / folder).mkdir(parents=True, exist_ok=True)

    def endpoint(self, endpoint_id: str, **fields: Any) -> None:
        content = {
            "name": endpoint_id, "connector_type": "echo", "uri": "", "token": "",
            "max_calls_per_second": 5, "max_concurrency": 2, "model": "", "params": {},
            **fields,
        }
        self.write("connectors-endpoints", endpoint_id, content)

    def template(self, template_id: str, template: str, description: str = "") -> None:
        self.write(
            "prompt-templates", template_id,
            {"name": template_id.title(), "description": description, "template": template},
        )

    def write(self, folder: str, name: str, content: Any) -> Path:
        path = self.root / folder / f"{name}.json"
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
        return path

    def runner_file(self, spec: RunnerSpec) -> Path:
        return self.write(
            "generated-outputs/runners", spec.runner_id,
            {
                "id": spec.runner_id,
                "name": spec.name,
                "endpoints": spec.endpoints,
                # Moonshot records an absolute path: one that no longer exists here.
                "database_file": f"/home/someone/moonshot/generated-outputs/databases/"
                f"{spec.runner_id}.db",
                "description": spec.description,
            },
        )

    def database_path(self, runner_id: str) -> Path:
        return self.root / "generated-outputs" / "databases" / f"{runner_id}.db"

    def runner(self, spec: RunnerSpec, *, with_session: bool = True) -> None:
        """The runner's JSON file and its database, as Moonshot's Session API leaves them."""
        self.runner_file(spec)
        connection = sqlite3.connect(self.database_path(spec.runner_id))
        with connection:
            connection.execute(SESSION_TABLE)
            if with_session:
                settings = spec.settings
                connection.execute(
                    "INSERT INTO session_metadata_table VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        spec.runner_id, repr(spec.endpoints), spec.created_epoch,
                        spec.created_datetime, settings.get("prompt_template", ""),
                        settings.get("context_strategy", ""),
                        settings.get("cs_num_of_prev_prompts", 5),
                        settings.get("attack_module", ""), settings.get("metric", ""),
                        settings.get("system_prompt", ""),
                    ),
                )
            for endpoint in spec.endpoints:
                table = endpoint.replace("-", "_")
                connection.execute(CHAT_TABLE.format(table))
                connection.executemany(
                    INSERT_CHAT.format(table),
                    [
                        tuple(record[name] for name in MOONSHOT_FIELDS)
                        for record in spec.records.get(endpoint, [])
                    ],
                )
        connection.close()

    def corrupt_runner(self, spec: RunnerSpec) -> None:
        """A runner whose database file is not a database at all."""
        self.runner_file(spec)
        self.database_path(spec.runner_id).write_bytes(b"not a database\x00" * 512)

    def runner_without_database(self, spec: RunnerSpec) -> None:
        self.runner_file(spec)
