"""The audit log: one entry per change, who made it, in which workspace."""

from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel


class AuditEntry(Document):
    """One change; `_id` is `workspace|<time in ns, zero-padded>|<random>`.

    The id sorts in time order within a workspace, so it doubles as the pagination cursor.
    """

    id: str = Field(alias="_id")
    workspace: str
    # Who made the change, and with which API key ("" for key-less requests and the shell).
    actor: str
    key_id: str = ""
    action: str
    target: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    at: float

    class Settings:
        name = "audit_entries"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("_id", DESCENDING)],
                name="workspace_newest_first",
            ),
        ]
