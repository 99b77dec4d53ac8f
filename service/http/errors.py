"""The only table from errors to HTTP answers: status, body and headers.

Validation failures answer 422 with Moonshot's `{"error": [{"loc", "msg", "type", "input"}]}`,
`loc` starting with where the field was ("body", "path", "query" or "header"); a body that is
not JSON is one such failure (`"type": "json_invalid"`, `loc` `["body", <byte offset>]`, as
FastAPI reports it). Every other error answers `{"detail": "<message>"}`, an unknown name in a
create or update (`UnknownName`) included.

`error_response` turns any error into its answer. Litestar's exception handlers call it
(`exception_handlers()`, registered once in `create_app`), and so does `send_error`, for an
ASGI middleware that runs where those handlers do not (before routing, or around the app):
either way the answer comes from this table. Code raises; nothing else builds an error answer.

A database that does not answer (PyMongo's `ConnectionFailure` and its subclasses, alone or in
an exception group) is a wait, not a fault: 503 `{"detail": "Database unavailable; retry
shortly."}` with `Retry-After`, wherever it is raised (a handler, a dependency, or the
authentication middleware, which looks keys up before routing).
"""

import json
import logging
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_428_PRECONDITION_REQUIRED,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import (
    ExceptionHandlersMap,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Send,
)
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

from service.api.errors import (
    Conflict,
    Forbidden,
    InvalidFile,
    InvalidInput,
    NoDatabase,
    NotFound,
    PreconditionRequired,
    RateLimited,
    SparringError,
    Stale,
    Unauthenticated,
    Unavailable,
    UnknownName,
)

log = logging.getLogger(__name__)

AnyRequest = Request[Any, Any, Any]
ErrorHandler = Callable[[AnyRequest, Any], Response[Any]]
Answer = Callable[[Any, AnyRequest | None], Response[Any]]


class RequestRefused(Exception):
    """A request refused for how it was sent, before a handler saw it (transport, not domain).

    Raised by the checks in `service.http.guards`; answered from `REQUEST_STATUS`.
    """


class MalformedRequest(RequestRefused):
    """The request cannot be served as sent (a Host not served, a body nested too deep)."""


class BodyTooLarge(RequestRefused):
    """The body is larger than the service accepts."""


class CrossSiteRequest(RequestRefused):
    """A change sent by a web page of another site, which `local` mode cannot tell from its user."""


class UnsupportedMediaType(RequestRefused):
    """The body is not sent as the media type the service reads."""


class InvalidBody(RequestRefused):
    """The body fails a check made before parsing; `errors` are already in the 422 shape."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


# Error -> status, answered with `{"detail": message}` (InvalidInput and InvalidBody answer in
# the validation shape). The nearest class in the error's MRO decides, so a subclass
# (RejectedArgument < InvalidInput, Stale < Conflict) follows its parent unless listed itself.
DOMAIN_STATUS: dict[type[SparringError], int] = {
    InvalidInput: HTTP_422_UNPROCESSABLE_ENTITY,
    # An unknown name answers `{"detail": "[Session] Metric X does not exist."}`, as Moonshot's
    # clients read it, not the validation list its parent InvalidInput answers with.
    UnknownName: HTTP_422_UNPROCESSABLE_ENTITY,
    # A bad line of an uploaded file is about the file, not a field: `{"detail": ...}`.
    InvalidFile: HTTP_400_BAD_REQUEST,
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
    Stale: HTTP_412_PRECONDITION_FAILED,
    PreconditionRequired: HTTP_428_PRECONDITION_REQUIRED,
    Forbidden: HTTP_403_FORBIDDEN,
    Unauthenticated: HTTP_401_UNAUTHORIZED,
    RateLimited: HTTP_429_TOO_MANY_REQUESTS,
    NoDatabase: HTTP_503_SERVICE_UNAVAILABLE,
    Unavailable: HTTP_503_SERVICE_UNAVAILABLE,
}
REQUEST_STATUS: dict[type[RequestRefused], int] = {
    MalformedRequest: HTTP_400_BAD_REQUEST,
    BodyTooLarge: HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    CrossSiteRequest: HTTP_403_FORBIDDEN,
    UnsupportedMediaType: HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    InvalidBody: HTTP_422_UNPROCESSABLE_ENTITY,
}


def _retry_after(exc: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)}


# A store that does not answer is usually back within seconds (a restart, a failover); a client
# told when to come back retries instead of giving up. A few seconds: about one database wait.
UNAVAILABLE_RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = "Database unavailable; retry shortly."


def _retry_shortly(exc: BaseException) -> dict[str, str]:
    return {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}


def _challenge(exc: Unauthenticated) -> dict[str, str]:
    return {"WWW-Authenticate": exc.challenge} if exc.challenge else {}


# Error -> the headers its answer carries.
ERROR_HEADERS: dict[type[Exception], Callable[[Any], dict[str, str]]] = {
    RateLimited: _retry_after,
    Unauthenticated: _challenge,
    Unavailable: _retry_shortly,
}
INTERNAL_ERROR = "Internal server error."
MALFORMED_PREFIX = "JSON is malformed: "
_DECODER_OFFSET = re.compile(r"\(byte (\d+)\)\s*$")


def validation_error(errors: list[dict[str, Any]]) -> Response[Any]:
    return Response({"error": errors}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)


def detail_error(
    message: str, status_code: int, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response({"detail": message}, status_code=status_code, headers=headers)


def _pydantic_errors(errors: list[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "loc": [*prefix, *error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", "value_error"),
            "input": error.get("input"),
        }
        for error in errors
    ]


def _error_type(message: str) -> str:
    lowered = message.lower()
    if "missing" in lowered or "required" in lowered:
        return "missing"
    if "got `" in lowered:
        return "type_error"
    return "value_error"


def _litestar_error(request: AnyRequest | None, message: dict[str, Any]) -> dict[str, Any]:
    source = message.get("source")
    source = source.value if isinstance(source, Enum) else source
    key = message.get("key")
    text = str(message.get("message", ""))
    if source == "body" and key == "data":
        # Litestar's way of saying that a required body is empty.
        return {"loc": ["body"], "msg": "Field required", "type": "missing", "input": None}
    given = None
    if request is not None and source == "query" and key is not None:
        given = request.query_params.get(key)
    elif request is not None and source == "path" and key is not None:
        given = request.path_params.get(key)
    loc = [item for item in (source, *(key.split(".") if key else ())) if item]
    return {"loc": loc, "msg": text, "type": _error_type(text), "input": given}


def _request_validation(exc: ValidationException, request: AnyRequest | None) -> Response[Any]:
    """Litestar's own validation of path, query and body, in Moonshot's 422 shape."""
    # Litestar keeps pydantic's error list (with types and inputs) on the cause of a body error.
    cause_errors = getattr(exc.__cause__, "errors", None)
    if isinstance(cause_errors, list):
        return validation_error(_pydantic_errors(cause_errors, prefix=("body",)))
    messages = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        # An error already in the answer's shape is answered as it is.
        message if "loc" in message else _litestar_error(request, message)
        for message in messages
        if isinstance(message, dict)
    ]
    if not errors:
        errors = [{"loc": ["body"], "msg": str(exc.detail), "type": "value_error", "input": None}]
    return validation_error(errors)


def _pydantic_validation(exc: ValidationError, request: AnyRequest | None) -> Response[Any]:
    """A wrong-typed argument that reached a domain function (its `validate_call`)."""
    return validation_error(_pydantic_errors(exc.errors(include_url=False), prefix=("body",)))


def field_location(request: AnyRequest | None, field: str | None) -> list[str]:
    """Where a field the domain names came from: a path or query parameter, else the body."""
    if field is None:
        return ["body"]
    if request is not None and field in request.path_params:
        return ["path", field]
    if request is not None and field in request.query_params:
        return ["query", field]
    return ["body", field]


def _invalid_input(exc: InvalidInput, request: AnyRequest | None) -> Response[Any]:
    return validation_error(
        [
            {
                "loc": field_location(request, exc.field),
                "msg": str(exc),
                "type": "value_error",
                "input": None,
            }
        ]
    )


def _invalid_body(exc: InvalidBody, request: AnyRequest | None) -> Response[Any]:
    return validation_error(exc.errors)


def _detail_answer(status_code: int) -> Answer:
    def answer(exc: Exception, request: AnyRequest | None) -> Response[Any]:
        return detail_error(str(exc), status_code, headers=_headers(exc) or None)

    return answer


def _headers(exc: Exception) -> dict[str, str]:
    for error_class in type(exc).__mro__:
        headers_of = ERROR_HEADERS.get(error_class)
        if headers_of is not None:
            return headers_of(exc)
    return {}


def json_invalid(offset: int, error: str) -> dict[str, Any]:
    """A body that is not JSON, as FastAPI (and so Moonshot) reports it: where the decoder
    stopped (a byte offset into the body) and what it said."""
    return {
        "loc": ["body", offset],
        "msg": "JSON decode error",
        "type": "json_invalid",
        "input": {},
        "ctx": {"error": error},
    }


def _decoder_error(detail: str) -> dict[str, Any]:
    """Litestar's decoder message ("JSON is malformed: invalid character (byte 6)") as
    `json_invalid`; a message without an offset (a truncated body) points at the start."""
    message = detail.removeprefix(MALFORMED_PREFIX)
    offset = _DECODER_OFFSET.search(message)
    if offset is None:
        return json_invalid(0, message)
    return json_invalid(int(offset.group(1)), message[: offset.start()].strip())


def _http_exception(exc: HTTPException, request: AnyRequest | None) -> Response[Any]:
    """Litestar's client errors (404 no route, 405, 413, ...) as `detail`; a body it could not
    decode as JSON in the validation shape, as Moonshot answers it."""
    if exc.status_code == HTTP_500_INTERNAL_SERVER_ERROR:
        return _internal_error(exc, request)
    if isinstance(exc.__cause__, SerializationException):
        return validation_error([_decoder_error(str(exc.detail))])
    return detail_error(str(exc.detail), exc.status_code, headers=exc.headers)


def _database_unavailable(exc: BaseException, request: AnyRequest | None) -> Response[Any]:
    """The database does not answer (stopped, restarting, unreachable): a wait, not a fault.

    PyMongo raises a `ConnectionFailure` for all of these (`ServerSelectionTimeoutError` once
    the server selection wait is over, `AutoReconnect` for a connection lost mid-request,
    `NetworkTimeout`, `NotPrimaryError` while a server shuts down, `WaitQueueTimeoutError`);
    Beanie passes them on as they are. Only the class is logged: the message names hosts.
    """
    where = "before routing" if request is None else f"on {request.method} {request.url.path}"
    log.warning("Database unavailable %s (%s)", where, type(exc).__name__)
    return detail_error(
        DATABASE_UNAVAILABLE, HTTP_503_SERVICE_UNAVAILABLE, headers=_retry_shortly(exc)
    )


def _internal_error(exc: BaseException, request: AnyRequest | None) -> Response[Any]:
    if request is None:
        log.error("Unhandled error before routing", exc_info=exc)
    else:
        log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return detail_error(INTERNAL_ERROR, HTTP_500_INTERNAL_SERVER_ERROR)


# How each kind of error is answered; the nearest class in an error's MRO decides.
ANSWERS: dict[type[Exception], Answer] = {
    **{error_class: _detail_answer(status) for error_class, status in DOMAIN_STATUS.items()},
    **{error_class: _detail_answer(status) for error_class, status in REQUEST_STATUS.items()},
    InvalidInput: _invalid_input,
    InvalidBody: _invalid_body,
    ValidationError: _pydantic_validation,
    ValidationException: _request_validation,
    HTTPException: _http_exception,
    ConnectionFailure: _database_unavailable,
}


def error_response(exc: BaseException, request: AnyRequest | None = None) -> Response[Any]:
    """The answer to `exc`: from the table, else a logged 500 that tells nothing of it.

    `request`, when known, locates a field the domain names (path, query or body) and names
    the route in the log.
    """
    for error_class in type(exc).__mro__:
        answer = ANSWERS.get(error_class)
        if answer is not None:
            return answer(exc, request)
    # Work done in a task group fails as a group: one lost connection in it is an outage.
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(ConnectionFailure) is not None:
        return _database_unavailable(exc, request)
    return _internal_error(exc, request)


async def send_error(send: Send, exc: BaseException) -> None:
    """Answer `exc` on a raw ASGI connection, for a middleware Litestar's handlers do not cover.

    Only before the response started: the caller must not have sent anything yet.
    """
    response = error_response(exc)
    body = json.dumps(response.content, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in response.headers.items()),
    ]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": response.status_code or HTTP_500_INTERNAL_SERVER_ERROR,
        "headers": headers,
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def handle_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    """Litestar's exception handler for every error: the answer `error_response` gives."""
    return error_response(exc, request)


def exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = dict.fromkeys(ANSWERS, handle_error)
    # Anything unexpected; Litestar sends non-HTTP exceptions here.
    handlers[HTTP_500_INTERNAL_SERVER_ERROR] = handle_error
    return handlers
