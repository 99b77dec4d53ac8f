"""A typed client of a Sparring server for scripts: `Client` (blocking) and `AsyncClient`.

    with Client.from_env() as sparring:
        session = sparring.create_session("probe one", ["gpt-4o"])
        answer = sparring.send_prompt(session.session.session_id, "Hello?")

Errors are the Python API's exceptions (`service.api.errors`), mapped from the answers.
"""

from service.api.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    RateLimited,
    SparringError,
    Stale,
    Unauthenticated,
    Unavailable,
    UnknownName,
)
from service.client.asynchronous import AsyncClient, AsyncExportStream
from service.client.calls import ExportFormat, ExportInfo, ImportedSession, StartedRun
from service.client.errors import ServerError
from service.client.events import SessionEvent
from service.client.sync import Client, ExportStream

__all__ = [
    "AsyncClient",
    "AsyncExportStream",
    "Client",
    "Conflict",
    "ExportFormat",
    "ExportInfo",
    "ExportStream",
    "Forbidden",
    "ImportedSession",
    "InvalidInput",
    "NotFound",
    "PreconditionRequired",
    "RateLimited",
    "ServerError",
    "SessionEvent",
    "SparringError",
    "Stale",
    "StartedRun",
    "Unauthenticated",
    "Unavailable",
    "UnknownName",
]
