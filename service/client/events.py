"""Reading the session's Server-Sent Events stream, line by line, for both clients."""

import json
from typing import Any

from pydantic import BaseModel

# Batch states after which nothing more lands.
BATCH_ENDED = frozenset({"done", "cancelled", "failed"})


class SessionEvent(BaseModel):
    """One event of `GET .../events`: its number (resume after it), name and data.

    Names: `chat_record` (`batch_id`, `conn_id`, `chat_record`), `batch` and `run`
    (`batch_id`/`run_id` and `status`).
    """

    id: int
    event: str
    data: dict[str, Any]


class KeepAlive:
    """A comment line (a keep-alive, an outage notice): the server is there, nothing new."""


KEEP_ALIVE = KeepAlive()


class EventParser:
    """Fed one line at a time; hands back an event when a blank line ends one, and
    `KEEP_ALIVE` for a comment. Events without data are skipped."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> SessionEvent | KeepAlive | None:
        if line == "":
            fields, self._fields = self._fields, {}
            if "data" not in fields or "id" not in fields:
                return None
            return SessionEvent(
                id=int(fields["id"]),
                event=fields.get("event", "message"),
                data=json.loads(fields["data"]),
            )
        if line.startswith(":"):
            return KEEP_ALIVE
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and name in self._fields:
            self._fields[name] += "\n" + value
        else:
            self._fields[name] = value
        return None


def ends_batch(event: SessionEvent, batch_id: str) -> bool:
    """Whether `event` says that batch `batch_id` is over."""
    return (
        event.event == "batch"
        and event.data.get("batch_id") == batch_id
        and event.data.get("status") in BATCH_ENDED
    )
