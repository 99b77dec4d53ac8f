"""What the session functions take and return: Moonshot's session metadata, and our additions."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models.sessions import SessionFields


class SessionMetadata(SessionFields):
    """Moonshot's session metadata; `to_dict()` is the dict its Session API returns."""

    model_config = ConfigDict(frozen=True)

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


class SessionView(BaseModel):
    """A session as Moonshot's web API shows it: with its runner's name and description."""

    session_name: str
    session_description: str
    session: SessionMetadata
    chat_records: dict[str, list[dict[str, Any]]] | None = None
    # The session's revision as read with it, for an ETag that matches the body exactly.
    revision: str = ""


class SessionListing(BaseModel):
    """One page of a session listing: its items, the cursor of the next page (None when this
    is the last), and a revision that changes whenever anything listed here changes."""

    items: list[Any]
    next_after: str | None = None
    revision: str


class ChatPage(BaseModel):
    """One page of an endpoint's chat records, oldest first; `next_cursor` continues it."""

    endpoint: str
    records: list[dict[str, Any]]
    next_cursor: int | None = None


class SessionChanges(BaseModel):
    """The settings to change (`SessionSettings`' fields); left out stay, `""` clears a name."""

    model_config = ConfigDict(extra="forbid")

    prompt_template: str | None = None
    context_strategy: str | None = None
    cs_num_of_prev_prompts: Annotated[int, Field(ge=0)] | None = None
    attack_module: str | None = None
    metric: str | None = None
    system_prompt: str | None = None


class RevisedSession(BaseModel):
    """A session's metadata and its revision, which changes with every change to it."""

    metadata: SessionMetadata
    revision: str
