"""Reads a Moonshot data folder: its endpoint, template and config JSON files, its runners' SQLite.

Nothing here writes or knows Sparring's storage; every problem with one file is a
`MoonshotDataError` naming that file, so the importer can report it and go on with the others.
"""

import ast
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

ENDPOINTS_FOLDER = "connectors-endpoints"
TEMPLATES_FOLDER = "prompt-templates"
ATTACK_MODULES_CONFIG = Path("attack-modules") / "attack_modules_config.json"
METRICS_CONFIG = Path("metrics") / "metrics_config.json"
# Moonshot writes runners and their databases under `generated-outputs/`; a data folder set up
# with every path pointing at one place (as Moonshot's own environment variables allow) keeps
# `runners/` and `databases/` at its top instead.
OUTPUTS_FOLDER = "generated-outputs"
RUNNERS_FOLDER = "runners"
DATABASES_FOLDER = "databases"
# Moonshot's chat table columns, in the order of its schema, after `id`.
CHAT_COLUMNS = (
    "connection_id", "context_strategy", "prompt_template", "attack_module", "metric", "prompt",
    "prepared_prompt", "system_prompt", "predicted_result", "duration", "prompt_time",
)
SESSION_COLUMNS = (
    "session_id", "endpoints", "created_epoch", "created_datetime", "prompt_template",
    "context_strategy", "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
)
FETCH_ROWS = 2_000


class MoonshotDataError(ValueError):
    """One file of the folder cannot be read as Moonshot writes it; the message says why."""


class MissingDataFolder(MoonshotDataError):
    """The data folder itself is not there."""


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise MoonshotDataError(f"{path.name} cannot be read: {error}") from error
    except json.JSONDecodeError as error:
        raise MoonshotDataError(f"{path.name} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise MoonshotDataError(f"{path.name} holds {type(value).__name__}, not a JSON object")
    return value


@dataclass(frozen=True)
class EndpointFile:
    """One connector endpoint; its id is the file's name, as Moonshot names it."""

    endpoint_id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class TemplateFile:
    """One prompt template; sessions name it by the file's name (its id), not its title."""

    template_id: str
    name: str
    description: str
    template: str


@dataclass(frozen=True)
class EntrySetting:
    """One entry of `attack_modules_config.json` or `metrics_config.json`."""

    name: str
    endpoints: list[str] | None
    configurations: dict[str, Any] | None


@dataclass(frozen=True)
class RunnerFile:
    """A runner's JSON file and where its SQLite database is in this folder."""

    runner_id: str
    name: str
    description: str
    endpoints: list[str]
    database: Path


@dataclass(frozen=True)
class SessionRow:
    """The one row of a runner database's `session_metadata_table`."""

    session_id: str
    endpoints: list[str]
    created_epoch: str
    created_datetime: str
    prompt_template: str
    context_strategy: str
    cs_num_of_prev_prompts: int
    attack_module: str
    metric: str
    system_prompt: str


@dataclass
class RunnerDatabase:
    """A runner's SQLite database, opened read-only; close it when done."""

    path: Path
    connection: sqlite3.Connection
    session: SessionRow | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.connection.close()

    def chat_rows(self, endpoint: str) -> Iterator[tuple[Any, ...]]:
        """The endpoint's chat rows in the order Moonshot appended them (its row id)."""
        try:
            cursor = self.connection.execute(
                f"SELECT {', '.join(CHAT_COLUMNS)} FROM {chat_table(endpoint)} ORDER BY id"
            )
            while rows := cursor.fetchmany(FETCH_ROWS):
                yield from rows
        except sqlite3.Error as error:
            raise MoonshotDataError(f"{self.path.name}: {error}") from error


def chat_table(endpoint: str) -> str:
    """Moonshot's chat table of an endpoint, quoted: its id with '-' replaced by '_'."""
    return '"' + endpoint.replace("-", "_").replace('"', '""') + '"'


class MoonshotFolder:
    """A Moonshot data folder (moonshot-data's layout plus `generated-outputs/`)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise MissingDataFolder(f"{root} is not a folder (a Moonshot data folder is needed).")
        self.root = root
        outputs = root / OUTPUTS_FOLDER
        self.outputs = outputs if outputs.is_dir() else root

    def endpoint_paths(self) -> list[Path]:
        return sorted((self.root / ENDPOINTS_FOLDER).glob("*.json"))

    def template_paths(self) -> list[Path]:
        return sorted((self.root / TEMPLATES_FOLDER).glob("*.json"))

    def runner_paths(self) -> list[Path]:
        return sorted((self.outputs / RUNNERS_FOLDER).glob("*.json"))

    def config_paths(self) -> list[Path]:
        return [path for path in (self.root / ATTACK_MODULES_CONFIG, self.root / METRICS_CONFIG)
                if path.is_file()]

    def read_runner(self, path: Path) -> RunnerFile:
        fields = read_json_object(path)
        runner_id = fields.get("id") or path.stem
        endpoints = fields.get("endpoints", [])
        if not isinstance(runner_id, str) or not _is_str_list(endpoints):
            raise MoonshotDataError(f"{path.name}: id must be text and endpoints a list of text")
        return RunnerFile(
            runner_id=runner_id,
            name=str(fields.get("name") or runner_id),
            description=str(fields.get("description") or ""),
            endpoints=list(endpoints),
            database=self._database_path(runner_id, fields.get("database_file")),
        )

    def _database_path(self, runner_id: str, recorded: object) -> Path:
        # Moonshot records an absolute path, which no longer holds once the folder moved: the
        # file of that name in this folder's databases comes first.
        name = Path(recorded).name if isinstance(recorded, str) and recorded else f"{runner_id}.db"
        inside = self.outputs / DATABASES_FOLDER / name
        if inside.is_file() or not isinstance(recorded, str) or not recorded:
            return inside
        given = Path(recorded)
        return given if given.is_absolute() and given.is_file() else inside


def read_endpoint(path: Path) -> EndpointFile:
    return EndpointFile(endpoint_id=path.stem, fields=read_json_object(path))


def read_template(path: Path) -> TemplateFile:
    fields = read_json_object(path)
    template = fields.get("template")
    if not isinstance(template, str):
        raise MoonshotDataError(f"{path.name}: template must be text")
    return TemplateFile(
        template_id=path.stem,
        name=str(fields.get("name") or path.stem),
        description=str(fields.get("description") or ""),
        template=template,
    )


def read_entry_settings(path: Path) -> list[EntrySetting]:
    """Each entry of a Moonshot config file: `{name: {endpoints?, configurations?}}`."""
    settings = []
    for name, value in read_json_object(path).items():
        if not isinstance(value, dict):
            raise MoonshotDataError(f"{path.name}: {name} holds {type(value).__name__}")
        endpoints = value.get("endpoints")
        configurations = value.get("configurations")
        if endpoints is not None and not _is_str_list(endpoints):
            raise MoonshotDataError(f"{path.name}: {name}.endpoints must be a list of text")
        if configurations is not None and not isinstance(configurations, dict):
            raise MoonshotDataError(f"{path.name}: {name}.configurations must be an object")
        settings.append(EntrySetting(name, endpoints, configurations))
    return settings


def open_runner_database(path: Path) -> RunnerDatabase:
    """Open a runner's database read-only and read its session row and chat table sizes.

    Reading these up front finds a missing, corrupt or truncated database before anything of
    the runner is written.
    """
    if not path.is_file():
        raise MoonshotDataError(f"its database {path.name} is missing")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise MoonshotDataError(f"{path.name} cannot be opened: {error}") from error
    database = RunnerDatabase(path=path, connection=connection)
    try:
        database.session = _session_row(connection, path)
        if database.session is not None:
            for endpoint in database.session.endpoints:
                (count,) = connection.execute(
                    f"SELECT COUNT(*) FROM {chat_table(endpoint)}"
                ).fetchone()
                database.counts[endpoint] = int(count)
    except sqlite3.Error as error:
        connection.close()
        raise MoonshotDataError(f"{path.name} is not a readable Moonshot database: {error}") from (
            error
        )
    except MoonshotDataError:
        connection.close()
        raise
    return database


def _session_row(connection: sqlite3.Connection, path: Path) -> SessionRow | None:
    rows = connection.execute(
        f"SELECT {', '.join(SESSION_COLUMNS)} FROM session_metadata_table"
    ).fetchall()
    if not rows:
        return None
    if len(rows) > 1:
        raise MoonshotDataError(f"{path.name} holds {len(rows)} sessions; Moonshot keeps one")
    values = dict(zip(SESSION_COLUMNS, rows[0], strict=True))
    endpoints = _endpoint_list(values["endpoints"], path)
    try:
        previous = int(values["cs_num_of_prev_prompts"] or 0)
    except (TypeError, ValueError) as error:
        raise MoonshotDataError(f"{path.name}: cs_num_of_prev_prompts is not a number") from error
    return SessionRow(
        session_id=_text(values["session_id"]),
        endpoints=endpoints,
        created_epoch=_text(values["created_epoch"]),
        created_datetime=_text(values["created_datetime"]),
        prompt_template=_text(values["prompt_template"]),
        context_strategy=_text(values["context_strategy"]),
        cs_num_of_prev_prompts=previous,
        attack_module=_text(values["attack_module"]),
        metric=_text(values["metric"]),
        system_prompt=_text(values["system_prompt"]),
    )


def _endpoint_list(stored: object, path: Path) -> list[str]:
    # Moonshot stores the list as its Python repr (`['a', 'b']`): a literal, never code.
    try:
        endpoints = ast.literal_eval(stored) if isinstance(stored, str) else stored
    except (ValueError, SyntaxError) as error:
        raise MoonshotDataError(f"{path.name}: the session's endpoints are unreadable") from error
    if not _is_str_list(endpoints):
        raise MoonshotDataError(f"{path.name}: the session's endpoints are not a list of text")
    return list(endpoints)


def _is_str_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _text(value: object) -> str:
    return "" if value is None else str(value)
