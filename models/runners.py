"""The runner: a named owner of at most one session."""

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel


class Runner(Document):
    """A runner as Moonshot keeps it; `_id` is `workspace|runner_id`."""

    id: str = Field(alias="_id")
    workspace: str
    runner_id: str
    name: str
    description: str = ""
    endpoints: list[str] = Field(default_factory=list)
    created_at: float

    class Settings:
        name = "runners"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("runner_id", ASCENDING)],
                name="workspace_runner_id",
                unique=True,
            ),
        ]
