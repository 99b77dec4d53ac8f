"""Chat history: records embedded in bounded bucket documents, and their id counters."""

from typing import Annotated, Any

from beanie import Document
from pydantic import BaseModel, BeforeValidator, Field
from pymongo import ASCENDING, IndexModel


def _seconds_as_text(value: object) -> object:
    return str(float(value)) if isinstance(value, (int, float)) else value


# Moonshot stores and returns a duration as the text of float seconds ("0.0002114749995598686").
DurationText = Annotated[str, BeforeValidator(_seconds_as_text)]


# Stored only on the records of a run: a record sent by hand stays Moonshot's shape.
RUN_FIELDS = frozenset({"run_id", "score", "success", "explanation", "score_error"})


class MoonshotChatRecord(BaseModel):
    """One prompt sent to one endpoint and what came back: exactly Moonshot's fields."""

    chat_record_id: int = Field(ge=1)
    conn_id: str
    context_strategy: str = ""
    prompt_template: str = ""
    attack_module: str = ""
    metric: str = ""
    prompt: str
    prepared_prompt: str
    system_prompt: str = ""
    predicted_result: str = ""
    duration: DurationText = "0.0"
    prompt_time: str


class ChatRecord(MoonshotChatRecord):
    """A chat record as stored: Moonshot's fields and who sent the prompt."""

    # Not one of Moonshot's fields, so the HTTP shapes (`MoonshotChatRecord`) leave it out.
    sent_by: str = ""
    # Set on the records of a red-teaming run: the run, and the metric's verdict on the answer
    # (`score_error` instead when the metric, or its judge, could give none).
    run_id: str = ""
    score: float | None = None
    success: bool | None = None
    explanation: str | None = None
    score_error: str = ""

    def document(self) -> dict[str, Any]:
        """The record as stored: a record sent by hand keeps Moonshot's shape (and `sent_by`)."""
        return self.model_dump(exclude=None if self.run_id else set(RUN_FIELDS))


class ChatBucket(Document):
    """Up to `bucket_size` records of one (session, endpoint).

    `_id` is `workspace|runner_id|endpoint|bucket_no` and a record with id `n` always lands
    in bucket `n // bucket_size`, so an append is one update by `_id` whatever the history's size.
    """

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    endpoint: str
    bucket_no: int
    records: list[ChatRecord] = Field(default_factory=list)

    class Settings:
        name = "chat_buckets"
        indexes = [
            IndexModel(
                [
                    ("workspace", ASCENDING),
                    ("session_id", ASCENDING),
                    ("endpoint", ASCENDING),
                    ("bucket_no", ASCENDING),
                ],
                name="workspace_session_endpoint_bucket",
                unique=True,
            ),
        ]


class ChatCounter(Document):
    """The last `chat_record_id` handed out for one (session, endpoint)."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    endpoint: str
    last_id: int = 0

    class Settings:
        name = "chat_counters"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING), ("endpoint", ASCENDING)],
                name="workspace_session_endpoint",
                unique=True,
            ),
        ]
