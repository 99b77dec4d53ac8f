"""Answers the tests expect in more than one place, written once."""

from typing import Any


def json_invalid(offset: int, message: str) -> dict[str, Any]:
    """The 422 a body that is not JSON gets, as Moonshot's FastAPI answers it."""
    return {
        "error": [
            {
                "loc": ["body", offset],
                "msg": "JSON decode error",
                "type": "json_invalid",
                "input": {},
                "ctx": {"error": message},
            }
        ]
    }
