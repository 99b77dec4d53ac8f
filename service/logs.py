"""Logging for every `sparring` process: text or JSON lines, each with the id of the request
it was logged for, and no secret in any line at any level.

The standard library's logging, not structlog: uvicorn, taskiq, httpx and PyMongo all log
through it already, so one handler with two filters (request id, redaction) and a formatter
covers every line, theirs too, without a second pipeline to bridge.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from service.request_context import current_request_id
from service.settings import LogFormat, Settings

# `request_tag` is `[<request id>] ` for a line logged for a request, empty otherwise.
LOG_FORMAT = "%(asctime)s %(levelname)s %(request_tag)s%(name)s: %(message)s"
MASK = "***"
# Client libraries that log each request (with URLs, and at DEBUG headers and bodies); the
# `openai` client brings its own copies of httpx and httpcore.
CHATTY_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2", "openai")
# The server's loggers: whatever handlers they were given, their lines go through ours.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

# Applied in order to the fully formatted message, traceback included.
_KEY = re.compile(r"\bspk_[A-Za-z0-9_\-]+")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_BEARER = re.compile(r"(\bbearer\s+)[^\s'\",]+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/\s@?#]+@", re.IGNORECASE)
_SECRET_FIELD = re.compile(
    r"(\b(?:access_token|token|api[_-]?key|x-api-key|authorization|password|passwd|secret)"
    r"['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)[^\s'\"&,;}\]]+",
    re.IGNORECASE,
)


def _mask_key(match: re.Match[str]) -> str:
    # `spk_<id>_<secret>`: the id names the key (it is shown to owners) and stays readable.
    key_id, separator, _ = match.group()[len("spk_") :].partition("_")
    if _KEY_ID.fullmatch(key_id):
        return f"spk_{key_id}_{MASK}" if separator else match.group()
    return f"spk_{MASK}"


def redact(text: str) -> str:
    """`text` with API keys, bearer tokens, secret fields and URL credentials masked."""
    text = _KEY.sub(_mask_key, text)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    text = _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)
    return _SECRET_FIELD.sub(rf"\g<1>{MASK}", text)


class RedactSecrets(logging.Filter):
    """On a handler: masks secrets in each record's final text, arguments and traceback too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # The formatter prints `exc_text` once it is set; the raw exception stays unprinted.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class AddRequestId(logging.Filter):
    """On a handler: gives each record the id of the request it was logged for (if any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        record.request_id = request_id
        record.request_tag = f"[{request_id}] " if request_id else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line: time (ISO 8601, UTC), level, logger, message,
    and `request_id`, `exc_info` and `stack_info` when there are any.

    Meant for a handler that runs `RedactSecrets` first: message, traceback and stack arrive
    redacted, as raw text, before JSON escapes could hide a secret from the patterns; the logger
    name and request id, which no filter touched, are redacted here.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": redact(record.name),
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = redact(str(request_id))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = record.stack_info
        # Newlines and other control characters come out escaped: a message cannot start a
        # line of its own. ASCII only, for whatever collects the lines.
        return json.dumps(line, ensure_ascii=True)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonLines() if log_format == "json" else logging.Formatter(LOG_FORMAT)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr) at the configured level and format, every line passed through
    redaction and tagged with its request id."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter_for(settings.log_format))
    handler.addFilter(AddRequestId())
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    chatty_level = logging.NOTSET if settings.log_level == "DEBUG" else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)
