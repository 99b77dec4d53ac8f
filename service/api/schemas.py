"""Shapes shared by the api functions of every resource; a resource's own live beside it."""

from typing import Any

from pydantic import BaseModel, Field

from models import RegistryKind

# The workspace of a caller who names none (library use, `local` mode).
DEFAULT_WORKSPACE = "default"


class RegistryItem(BaseModel):
    """A named prompt template, context strategy, attack module or metric."""

    kind: RegistryKind
    name: str
    description: str = ""
    template: str = ""
    built_in: bool = False
    # What Moonshot's module metadata carries besides names (an attack module's `endpoints`
    # and `configurations`).
    extra: dict[str, Any] = Field(default_factory=dict)
