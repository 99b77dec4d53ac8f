"""How a failed prompt is written down: a chat record whose answer names the cause."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Starts the `predicted_result` of a record whose endpoint gave no answer.
ERROR_PREFIX = "[error] "


def error_result(cause: str) -> str:
    return f"{ERROR_PREFIX}{cause}"


def is_error_record(record: Mapping[str, Any]) -> bool:
    return str(record.get("predicted_result", "")).startswith(ERROR_PREFIX)


def prompt_time() -> str:
    """Now, as Moonshot writes a record's `prompt_time` (`str(datetime.now())`)."""
    return str(datetime.now())
