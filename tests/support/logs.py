"""Logging as a `sparring` process configures it, into a buffer, for the length of a test."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service.logs import CHATTY_LOGGERS, SERVER_LOGGERS, configure_logging
from service.settings import Settings


@contextmanager
def captured_logs(settings: Settings) -> Iterator[io.StringIO]:
    """`configure_logging(settings)` into a buffer; the previous set-up restored afterwards."""
    loggers = [logging.getLogger(name) for name in ("", *CHATTY_LOGGERS, *SERVER_LOGGERS)]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    buffer = io.StringIO()
    configure_logging(settings, stream=buffer)
    try:
        yield buffer
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of `text` parsed as JSON (failing the test on any line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line]
