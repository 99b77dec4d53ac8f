"""LLM endpoints a workspace can prompt: Moonshot's connector endpoints, token encrypted."""

from typing import Any

from beanie import Document
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.keys import SEPARATOR


def endpoint_key(workspace: str, endpoint_id: str) -> str:
    return SEPARATOR.join((workspace, endpoint_id))


class EndpointParams(BaseModel):
    """Call parameters; keys Moonshot's endpoints carry besides these are kept as given."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds per call attempt.")
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per call, retries on 429/5xx included."
    )


class Endpoint(Document):
    """One endpoint of a workspace; `_id` is `workspace|endpoint_id`.

    The token is only ever stored encrypted (`token_encrypted`); it is never returned.
    """

    id: str = Field(alias="_id")
    workspace: str
    endpoint_id: str
    name: str
    connector_type: str
    uri: str = ""
    model: str = ""
    token_encrypted: str = ""
    max_calls_per_second: int = Field(default=10, ge=1)
    max_concurrency: int = Field(default=1, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    created_date: str
    created_at: float

    class Settings:
        name = "endpoints"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("endpoint_id", ASCENDING)],
                name="workspace_endpoint_id",
                unique=True,
            ),
            IndexModel(
                [("workspace", ASCENDING), ("created_at", DESCENDING)],
                name="workspace_newest_first",
            ),
        ]
