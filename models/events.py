"""The event log of a session: what the live stream replays, numbered per session."""

from enum import StrEnum

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.keys import SEPARATOR


class EventKind(StrEnum):
    RECORD = "record"
    BATCH = "batch"
    RUN = "run"
    # A number taken by a second writer of a fact already stored: readers step over it.
    VOID = "void"


def event_counter_key(workspace: str, session_id: str) -> str:
    return SEPARATOR.join((workspace, session_id))


def event_key(workspace: str, session_id: str, fact: str) -> str:
    return SEPARATOR.join((workspace, session_id, fact))


class SessionEvent(Document):
    """A chat record that landed, or a batch or a run that changed status; `_id` is
    `workspace|session|fact`.

    `fact` names what happened (`record|<epoch>|<endpoint>|<id>`, `batch|<batch>|<status>`,
    `run|<run>|<status>`), so
    a task that runs twice logs its record once. `seq` numbers the session's events in the order
    they were logged; it is taken just before the event is stored and stored with it (events
    stored by earlier versions may briefly lack one).
    """

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    session_epoch: str
    seq: int | None = None
    fact: str
    kind: EventKind
    batch_id: str
    status: str = ""
    endpoint: str = ""
    chat_record_id: int = 0
    task_id: str = ""
    run_id: str = ""
    at: float
    numbered_at: float | None = None

    class Settings:
        name = "session_events"
        indexes = [
            # Unique by the counter; not declared so, as events wait a moment without a number.
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING), ("seq", ASCENDING)],
                name="workspace_session_seq",
            ),
        ]


class EventCounter(Document):
    """The last event number handed out for one session id; never reset, so numbers only grow."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str
    last_seq: int = 0

    class Settings:
        name = "session_event_counters"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("session_id", ASCENDING)],
                name="workspace_session",
                unique=True,
            ),
        ]
