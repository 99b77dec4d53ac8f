"""Which exported session a workspace imported, and as which session: a re-import is a no-op."""

from beanie import Document
from pydantic import Field


class SessionImport(Document):
    """One import of a Sparring export into a workspace.

    `_id` is `workspace|source session id|source created_epoch`: the same file (or another
    export of the same session) always finds it. Written before anything else of the import and
    marked `complete` after the session document, so an import cut short is found and finished
    by the next one, into the same session.
    """

    id: str = Field(alias="_id")
    workspace: str
    source_session_id: str
    source_created_epoch: str
    # The runner id the session was imported as (a new one when its name was taken).
    session_id: str
    imported_by: str
    # Held by the import writing it: its token, renewed (`heartbeat`, epoch seconds) as it
    # writes; a hold not renewed for a minute is a dead import's, which the next one takes over.
    token: str = ""
    heartbeat: float = 0.0
    complete: bool = False

    class Settings:
        name = "session_imports"
