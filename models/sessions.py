"""The session of a runner: its red-teaming settings, as Moonshot's session metadata."""

from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from beanie import Document


class Session(Document):
    """One runner's session; `_id` is `workspace|runner_id`, the same as its runner's."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    endpoints: list[str] = Field(default_factory=list)
    created_epoch: str
    created_datetime: str
    prompt_template: str = ""
    context_strategy: str = ""
    cs_num_of_prev_prompts: int = 5
    attack_module: str = ""
    metric: str = ""
    system_prompt: str = ""
    # Copies of the runner's name and description (neither ever changes), so that listing and
    # showing sessions as the web API does needs no second read of the runners.
    runner_name: str = ""
    description: str = ""
    # Bumped by every change, so a client can detect that a session changed under it.
    version: int = 0

    class Settings:
        name = "sessions"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING)],
                name="workspace_session_id",
                unique=True,
            ),
            IndexModel(
                [
                    ("workspace", ASCENDING),
                    ("created_datetime", DESCENDING),
                    ("created_epoch", DESCENDING),
                ],
                name="workspace_newest_first",
            ),
            # Which sessions use an endpoint (an endpoint in use cannot be deleted).
            IndexModel(
                [("workspace", ASCENDING), ("endpoints", ASCENDING)], name="workspace_endpoints"
            ),
        ]
