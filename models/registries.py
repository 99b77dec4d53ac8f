"""Named things a session refers to: prompt templates, context strategies, attack modules, metrics.

Built-in entries live in code (`service.redteam.catalogue`); these documents hold what a
workspace adds to them.
"""

from enum import StrEnum

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel


class RegistryKind(StrEnum):
    PROMPT_TEMPLATE = "prompt-template"
    CONTEXT_STRATEGY = "context-strategy"
    ATTACK_MODULE = "attack-module"
    METRIC = "metric"


class RegistryEntry(Document):
    """One named entry of a workspace; `_id` is `workspace|kind|name`."""

    id: str = Field(alias="_id")
    workspace: str
    kind: RegistryKind
    name: str
    description: str = ""
    # The Jinja2 source for a prompt template; empty for the other kinds.
    template: str = ""
    created_at: float

    class Settings:
        name = "registry_entries"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("kind", ASCENDING), ("name", ASCENDING)],
                name="workspace_kind_name",
                unique=True,
            ),
        ]


class RegistryConfig(Document):
    """A workspace's settings for one attack module or metric: the endpoints it calls and its
    configurations (Moonshot's `attack_modules_config.json` / `metrics_config.json` entry).

    `_id` is `workspace|kind|name`, so a change is one upsert by `_id`.
    """

    id: str = Field(alias="_id")
    workspace: str
    kind: RegistryKind
    name: str
    # None: the entry's own default is kept.
    endpoints: list[str] | None = None
    # Stored as JSON text: a client's keys may hold `$` or `.`, which MongoDB field names may
    # not (or only with caveats) carry.
    configurations_json: str | None = None
    updated_at: float

    class Settings:
        name = "registry_configs"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("kind", ASCENDING), ("name", ASCENDING)],
                name="workspace_kind_name",
                unique=True,
            ),
        ]
