"""Bodies of the prompt, cancel and batch routes: Moonshot's `SessionPromptDTO` and PromptInfo."""

from pydantic import BaseModel, Field

from models import BatchStatus
from service.http.schemas import MAX_INT64, ChatRecordOut

MAX_PROMPT_CHARS = 100_000


class PromptCreate(BaseModel):
    """Moonshot's `SessionPromptDTO`."""

    user_prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    history_length: int | None = Field(default=10, ge=0, le=MAX_INT64)


class PromptInfo(BaseModel):
    """Moonshot's `PromptInfo`: what `POST .../prompt` answers once every endpoint answered."""

    current_runner_id: str
    current_chats: dict[str, list[ChatRecordOut]]
    current_batch_size: int
    current_status: str


class BatchOut(PromptInfo):
    """A batch that may still be running: PromptInfo with what has landed, plus its id."""

    batch_id: str
    status: BatchStatus


class Cancelled(BaseModel):
    success: bool = True
    cancelled: list[str] = Field(description="Ids of the batches that were stopped.")
    runs: list[str] = Field(
        default_factory=list, description="Ids of the red-teaming runs that were stopped."
    )
