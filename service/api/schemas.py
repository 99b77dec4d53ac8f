"""Shapes shared by the api functions of every resource; a resource's own live beside it."""

from typing import Any

from pydantic import BaseModel, Field

from models import RegistryKind

# The workspace of a caller who names none (library use, `local` mode).
DEFAULT_WORKSPACE = "default"


class RegistryItem(BaseModel):
    """A named prompt template, context strategy, attack module or metric, as a workspace sees
    it: a built-in's `endpoints` and `configurations` are the workspace's when it set them."""

    kind: RegistryKind
    name: str
    description: str = ""
    # Moonshot's display name (its metadata's `name`); the id when it has none.
    title: str = ""
    template: str = ""
    built_in: bool = False
    # What Moonshot's attack module and metric metadata carry: the endpoints the module calls
    # (an attacker, a judge) and its settings.
    endpoints: list[str] = Field(default_factory=list)
    configurations: dict[str, Any] = Field(default_factory=dict)
    # Whether this deployment can run it, and why not when it cannot.
    runnable: bool = True
    reason: str = ""
