"""Shapes the api functions take and return: Moonshot's session metadata, and our additions."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models import RegistryKind

DEFAULT_WORKSPACE = "default"
DEFAULT_CS_NUM_OF_PREV_PROMPTS = 5


class SessionMetadata(BaseModel):
    """Moonshot's session metadata; `to_dict()` is the dict its Session API returns."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    endpoints: list[str]
    created_epoch: str
    created_datetime: str
    prompt_template: str = ""
    context_strategy: str = ""
    cs_num_of_prev_prompts: int = DEFAULT_CS_NUM_OF_PREV_PROMPTS
    attack_module: str = ""
    metric: str = ""
    system_prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class RunnerSession(BaseModel):
    """What `api_create_session` returns, as Moonshot's `Session` object offers it."""

    runner_id: str
    runner_args: dict[str, Any]
    session_metadata: SessionMetadata


class RunnerInfo(BaseModel):
    """A runner: the named owner of at most one session."""

    id: str
    name: str
    description: str = ""
    endpoints: list[str] = Field(default_factory=list)


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


class SessionView(BaseModel):
    """A session as Moonshot's web API shows it: with its runner's name and description."""

    session_name: str
    session_description: str
    session: SessionMetadata
    chat_records: dict[str, list[dict[str, Any]]] | None = None
    # The session's revision as read with it, for an ETag that matches the body exactly.
    revision: str = ""


class ChatPage(BaseModel):
    """One page of an endpoint's chat records, oldest first; `next_cursor` continues it."""

    endpoint: str
    records: list[dict[str, Any]]
    next_cursor: int | None = None
