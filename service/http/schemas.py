"""Request and response bodies of the HTTP API, in Moonshot 0.7.6 web API shapes."""

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from models.chats import RUN_FIELDS, MoonshotChatRecord
from service.api.paging import MAX_INT64
from service.api.sessions.schemas import RunnerInfo, SessionMetadata

# Control characters (NUL above all) in a name break logs, terminals and other tools that show
# it; free text may keep line breaks and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_characters_but_line_breaks(value: str | None) -> str | None:
    if value is not None and _CONTROL_IN_TEXT.search(value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


NoControl = AfterValidator(_no_control_characters)
TextNoControl = AfterValidator(_no_control_characters_but_line_breaks)

EndpointId = Annotated[str, Field(min_length=1, max_length=256)]
# Registry names appear in URL paths (PUT .../prompt-template/{name}), so they stay path-safe.
RegistryName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class SessionCreate(BaseModel):
    """Body of `POST /api/v1/sessions`, Moonshot's `SessionCreateDTO`."""

    name: Annotated[str, NoControl] = Field(min_length=3, max_length=256)
    description: Annotated[str | None, TextNoControl] = Field(default="", max_length=1000)
    endpoints: list[EndpointId] = Field(min_length=1)
    context_strategy: str = ""
    prompt_template: str = ""
    attack_module: str = ""
    metric: str = ""
    system_prompt: str = ""
    cs_num_of_prev_prompts: int = Field(default=5, ge=0, le=MAX_INT64)

    def runner_args(self) -> dict[str, Any]:
        """The Session API's `runner_args`; it reads the metric from `metric_id`."""
        return {
            "context_strategy": self.context_strategy,
            "prompt_template": self.prompt_template,
            "cs_num_of_prev_prompts": self.cs_num_of_prev_prompts,
            "attack_module": self.attack_module,
            "metric_id": self.metric,
            "system_prompt": self.system_prompt,
        }


class SystemPromptUpdate(BaseModel):
    system_prompt: str


class PrevPromptsCount(BaseModel):
    """Body and answer of `/api/v1/sessions/{runner_id}/cs-num-of-prev-prompts`."""

    cs_num_of_prev_prompts: int = Field(ge=0, le=MAX_INT64)


class SessionInfo(SessionMetadata):
    """Moonshot's session metadata dict, as `api_load_session` returns it."""


class SessionMetadataOut(SessionMetadata):
    """Moonshot's `SessionMetadataModel`: the metadata plus the runner's description."""

    description: str = ""


class ChatRecordOut(MoonshotChatRecord):
    """Moonshot's chat record over HTTP (`duration` is text there), plus its `chat_record_id`.

    A record of a red-teaming run also carries the run and the verdict on its answer; a record
    sent by hand answers exactly Moonshot's fields, as before runs existed.
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    # Every record answered carries its duration, so the schema requires it.
    duration: str
    run_id: str | None = Field(
        default=None, description="The red-teaming run that sent it; only on a run's records."
    )
    score: float | None = Field(
        default=None, description="The metric's score of the answer (null when not scored)."
    )
    success: bool | None = Field(
        default=None, description="Whether the metric says the attack worked on this answer."
    )
    explanation: str | None = Field(
        default=None, description="Why, when the metric or its judge said."
    )
    score_error: str | None = Field(
        default=None, description="Why no score was given (\"\" when one was)."
    )

    @model_serializer(mode="wrap")
    def _run_fields_on_run_records_only(self, handler: SerializerFunctionWrapHandler):
        # No return annotation, so the schema keeps the fields above. (Pydantic's MISSING would
        # do this without a serializer, but Litestar cannot put it in the OpenAPI document.)
        answer = handler(self)
        if not self.run_id:
            for name in RUN_FIELDS:
                answer.pop(name, None)
        return answer


class SessionResponse(BaseModel):
    """Moonshot's `SessionResponseModel`."""

    session_name: str
    session_description: str
    session: SessionMetadataOut
    chat_records: dict[str, list[ChatRecordOut]] | None = None


class ChatPageOut(BaseModel):
    endpoint: str
    records: list[ChatRecordOut]
    next_cursor: int | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last one."
    )


class AvailableSessions(BaseModel):
    """`api_get_available_session_info`'s pair of lists, in the same order."""

    session_ids: list[str]
    sessions: list[SessionInfo]


class Success(BaseModel):
    success: bool = True


class RunnerOut(RunnerInfo):
    """A runner over HTTP: the api's `RunnerInfo` under the name clients know."""


class PromptTemplateCreate(BaseModel):
    name: RegistryName
    description: Annotated[str, TextNoControl] = Field(default="", max_length=1000)
    template: str = Field(min_length=1)


class PromptTemplateOut(BaseModel):
    """Moonshot's prompt template details."""

    id: str
    name: str
    description: str
    template: str


class ContextStrategyOut(BaseModel):
    """A context strategy's metadata, as Moonshot's modules describe themselves, and whether
    this deployment can run it (`reason` says why not)."""

    id: str
    name: str
    description: str
    runnable: bool = True
    reason: str | None = None


class ModuleMetadataOut(BaseModel):
    """An attack module's or metric's metadata, as Moonshot's modules describe themselves (with
    the workspace's endpoints and configurations), and whether this deployment can run it."""

    id: str
    name: str
    description: str
    endpoints: list[str] = Field(default_factory=list)
    configurations: dict[str, Any] = Field(default_factory=dict)
    runnable: bool = True
    reason: str | None = None


class ModuleConfigIn(BaseModel):
    """What a workspace sets on an attack module or metric; a field left out is kept."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointId] | None = Field(default=None, max_length=32)
    configurations: dict[str, Any] | None = None


class Status(BaseModel):
    status: str
