"""HTTP answers back into the domain's exceptions: the reverse of `service.http.errors`.

The status of each domain error is read from that module's table (`DOMAIN_STATUS`), so the two
faces cannot drift apart; a script catches `NotFound` whether it calls `service.api` or a
server. Messages are the server's own (`detail`, or the validation list), which never holds a
key or token.
"""

import json
from typing import Any

import httpx

from service.api.errors import (
    InvalidInput,
    RateLimited,
    SparringError,
    Unauthenticated,
    Unavailable,
    UnknownName,
)
from service.http.errors import DOMAIN_STATUS


class ServerError(SparringError):
    """An answer no domain error stands for (a 5xx fault, an unexpected status)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def _most_general(classes: list[type[SparringError]]) -> type[SparringError]:
    # 422 is both InvalidInput and its subclass UnknownName: the base stands for the status.
    roots = [
        cls for cls in classes
        if not any(cls is not other and issubclass(cls, other) for other in classes)
    ]
    return roots[0]


def _reverse(table: dict[type[SparringError], int]) -> dict[int, type[SparringError]]:
    by_status: dict[int, list[type[SparringError]]] = {}
    for error_class, status in table.items():
        by_status.setdefault(status, []).append(error_class)
    return {status: _most_general(classes) for status, classes in by_status.items()}


# Status -> the error raised for it. 503 stands for NoDatabase and Unavailable alike; from the
# client's side both mean "the server cannot serve this now", which `Unavailable` says.
STATUS_ERROR: dict[int, type[SparringError]] = {**_reverse(DOMAIN_STATUS), 503: Unavailable}
# Refusals of how a request was sent (a Host not served, a body too large or not JSON): the
# caller's input is wrong, as with a validation failure.
REFUSED_STATUSES = frozenset({400, 413, 415})
UNREACHABLE = "Cannot reach the Sparring server at {url} ({kind})."


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _validation_message(errors: list[Any]) -> tuple[str, str | None]:
    """The 422 list as one line ("body.name: String should ..."), and the field, when one."""
    parts: list[str] = []
    fields: list[str] = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        loc = [str(item) for item in error.get("loc", [])]
        where = ".".join(loc)
        parts.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
        if len(loc) >= 2:
            fields.append(loc[-1])
    field = fields[0] if len(set(fields)) == 1 else None
    return "; ".join(parts) or "Invalid input.", field


def error_from_response(response: httpx.Response) -> SparringError:
    """The exception a non-2xx answer stands for, with the server's message."""
    status = response.status_code
    body = _body(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    errors = body.get("error") if isinstance(body, dict) else None
    message = str(detail) if detail is not None else response.reason_phrase or f"HTTP {status}"
    if isinstance(errors, list):
        text, field = _validation_message(errors)
        return InvalidInput(text, field=field)
    if status == 422:
        # A `detail` at 422 is an unknown name (a metric, an endpoint...), as the table answers.
        return UnknownName(message)
    if status in REFUSED_STATUSES:
        return InvalidInput(message)
    error_class = STATUS_ERROR.get(status)
    if error_class is RateLimited:
        return RateLimited(message, retry_after=_retry_after(response))
    if error_class is Unauthenticated:
        return Unauthenticated(message, challenge=response.headers.get("www-authenticate"))
    if error_class is not None:
        return error_class(message)
    return ServerError(message, status_code=status)


def _retry_after(response: httpx.Response) -> int:
    try:
        return max(0, int(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1


def unreachable(url: str, error: httpx.TransportError) -> Unavailable:
    """A server that does not answer at all; the class name says how (no message: it may
    quote the request)."""
    return Unavailable(UNREACHABLE.format(url=url, kind=type(error).__name__))
