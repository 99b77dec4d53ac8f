"""The session of a runner: its red-teaming settings, as Moonshot's session metadata."""

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

DEFAULT_CS_NUM_OF_PREV_PROMPTS = 5


class SessionSettings(BaseModel):
    """What a red teamer sets on a session, with Moonshot's names and defaults."""

    prompt_template: str = ""
    context_strategy: str = ""
    cs_num_of_prev_prompts: int = DEFAULT_CS_NUM_OF_PREV_PROMPTS
    attack_module: str = ""
    metric: str = ""
    system_prompt: str = ""


class _SessionIdentity(BaseModel):
    session_id: str
    endpoints: list[str]
    created_epoch: str
    created_datetime: str


class SessionFields(SessionSettings, _SessionIdentity):
    """Moonshot's session metadata, in its order: who and when first, then the settings.

    The one definition of a session's fields: the document stores them, the api functions
    answer them (`SessionMetadata`), the HTTP shapes extend them.
    """


class Session(Document, SessionFields):
    """One runner's session; `_id` is `workspace|runner_id`, the same as its runner's."""

    id: str = Field(alias="_id")
    workspace: str
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
            # The listing order, runner id last so that it is total (keyset paging). A new name:
            # an index changed under its old name would fail to build on existing databases.
            IndexModel(
                [
                    ("workspace", ASCENDING),
                    ("created_datetime", DESCENDING),
                    ("created_epoch", DESCENDING),
                    ("session_id", DESCENDING),
                ],
                name="workspace_listing_order",
            ),
            # Which sessions use an endpoint (an endpoint in use cannot be deleted).
            IndexModel(
                [("workspace", ASCENDING), ("endpoints", ASCENDING)], name="workspace_endpoints"
            ),
        ]
