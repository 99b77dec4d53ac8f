"""The only table from errors to HTTP answers, registered once in `create_app`.

Validation failures answer 422 with Moonshot's `{"error": [{"loc", "msg", "type", "input"}]}`,
`loc` starting with where the field was ("body", "path", "query" or "header"); every other
error answers `{"detail": "<message>"}`.
"""

import logging
from collections.abc import Callable
from enum import Enum
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap
from pydantic import ValidationError

from service.api.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NoDatabase,
    NotFound,
    SparringError,
    Stale,
    Unauthenticated,
)

log = logging.getLogger(__name__)

ErrorHandler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

# Domain error -> status. Litestar picks the nearest class in the error's MRO, so a subclass
# (RejectedArgument < InvalidInput, Stale < Conflict) follows its parent unless listed itself.
DOMAIN_STATUS: dict[type[SparringError], int] = {
    InvalidInput: HTTP_422_UNPROCESSABLE_ENTITY,
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
    Stale: HTTP_412_PRECONDITION_FAILED,
    Forbidden: HTTP_403_FORBIDDEN,
    Unauthenticated: HTTP_401_UNAUTHORIZED,
    NoDatabase: HTTP_503_SERVICE_UNAVAILABLE,
}
INTERNAL_ERROR = "Internal server error."
MALFORMED_PREFIX = "JSON is malformed: "


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


def _litestar_error(request: Request[Any, Any, Any], message: dict[str, Any]) -> dict[str, Any]:
    source = message.get("source")
    source = source.value if isinstance(source, Enum) else source
    key = message.get("key")
    text = str(message.get("message", ""))
    if source == "body" and key == "data":
        # Litestar's way of saying that a required body is empty.
        return {"loc": ["body"], "msg": "Field required", "type": "missing", "input": None}
    given = None
    if source == "query" and key is not None:
        given = request.query_params.get(key)
    elif source == "path" and key is not None:
        given = request.path_params.get(key)
    loc = [item for item in (source, *(key.split(".") if key else ())) if item]
    return {"loc": loc, "msg": text, "type": _error_type(text), "input": given}


def handle_request_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Litestar's own validation of path, query and body, in Moonshot's 422 shape."""
    # Litestar keeps pydantic's error list (with types and inputs) on the cause of a body error.
    cause_errors = getattr(exc.__cause__, "errors", None)
    if isinstance(cause_errors, list):
        return validation_error(_pydantic_errors(cause_errors, prefix=("body",)))
    messages = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        # An error already in the answer's shape (the body guard's) is answered as it is.
        message if "loc" in message else _litestar_error(request, message)
        for message in messages
        if isinstance(message, dict)
    ]
    if not errors:
        errors = [{"loc": ["body"], "msg": str(exc.detail), "type": "value_error", "input": None}]
    return validation_error(errors)


def handle_pydantic_validation(
    request: Request[Any, Any, Any], exc: ValidationError
) -> Response[Any]:
    """A wrong-typed argument that reached a domain function (its `validate_call`)."""
    return validation_error(_pydantic_errors(exc.errors(include_url=False), prefix=("body",)))


def field_location(request: Request[Any, Any, Any], field: str | None) -> list[str]:
    """Where a field the domain names came from: a path or query parameter, else the body."""
    if field is None:
        return ["body"]
    if field in request.path_params:
        return ["path", field]
    if field in request.query_params:
        return ["query", field]
    return ["body", field]


def handle_invalid_input(request: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
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


def domain_error_handler(status_code: int) -> ErrorHandler:
    def handle(request: Request[Any, Any, Any], exc: SparringError) -> Response[Any]:
        return detail_error(str(exc), status_code)

    return handle


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's client errors (400 malformed JSON, 404 no route, 405, 413, ...) as `detail`."""
    if exc.status_code == HTTP_500_INTERNAL_SERVER_ERROR:
        return handle_internal_error(request, exc)
    detail = str(exc.detail)
    if isinstance(exc.__cause__, SerializationException):
        detail = f"The request body is not valid JSON: {detail.removeprefix(MALFORMED_PREFIX)}"
    return detail_error(detail, exc.status_code, headers=exc.headers)


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return detail_error(INTERNAL_ERROR, HTTP_500_INTERNAL_SERVER_ERROR)


def exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = {
        status_class: domain_error_handler(status_code)
        for status_class, status_code in DOMAIN_STATUS.items()
    }
    handlers.update(
        {
            InvalidInput: handle_invalid_input,
            ValidationError: handle_pydantic_validation,
            ValidationException: handle_request_validation,
            HTTPException: handle_http_exception,
            # Anything unexpected; Litestar sends non-HTTP exceptions here.
            HTTP_500_INTERNAL_SERVER_ERROR: handle_internal_error,
        }
    )
    return handlers
