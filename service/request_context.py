"""The id of the request being served, readable anywhere in the process (log lines, tasks).

A contextvar, so each request (each asyncio task) sees its own; tasks copy it when made, and
a queued task carries it in its labels to whichever worker runs it (`service.workers`).
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

# Short and of safe characters only: it is echoed in a header and written into every log
# line, so anything else (spaces, quotes, newlines, escapes) could forge or break a line.
MAX_REQUEST_ID_LENGTH = 64
_WELL_FORMED = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._\-]{{0,{MAX_REQUEST_ID_LENGTH - 1}}}")

_REQUEST_ID: ContextVar[str | None] = ContextVar("sparring_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, or `None` outside of one."""
    return _REQUEST_ID.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def well_formed(candidate: str | None) -> str | None:
    """`candidate` if it may serve as a request id as it is, else `None`."""
    if candidate is not None and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return None


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """From here on in this context, `current_request_id()` is `request_id`; undo with
    `unbind_request_id(token)` in the same context."""
    return _REQUEST_ID.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


@contextmanager
def request_id_set(request_id: str | None) -> Iterator[None]:
    """Within the block, `current_request_id()` is `request_id`; the previous one after it."""
    token = bind_request_id(request_id)
    try:
        yield
    finally:
        unbind_request_id(token)
