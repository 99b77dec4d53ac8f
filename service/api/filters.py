"""Query filters as one document of conditions, never Beanie's `$and` of one per condition.

Beanie joins the expressions of `find(a, b)` (and of `find(a).find(b)`) into
`{"$and": [a, b]}`. MongoDB plans that as it plans `{**a, **b}`, but the embedded SecantusDB
(0.7.0b3) picks no index for a top-level `$and` and reads every document of the collection:
settling a batch read all 1,000 stored tasks to find its 10 (`tests/api/test_filters.py`
shows the plan). So every Beanie query of more than one condition goes through `where`.
"""

from collections.abc import Mapping
from typing import Any

# What Beanie's `Model.field == value` is to a type checker (a mapping when it runs).
Condition = Mapping[str, Any] | bool


def where(*conditions: Condition) -> dict[str, Any]:
    """The conditions as one filter document; an `$and` of them only where two constrain the
    same field (or one is itself an operator such as `$or`), which one document cannot say."""
    documents: list[dict[str, Any]] = []
    for condition in conditions:
        if not isinstance(condition, Mapping):
            raise TypeError(f"a query condition is a mapping, not {condition!r}")
        documents.append(dict(condition))
    merged: dict[str, Any] = {}
    for document in documents:
        for field, value in document.items():
            if field in merged or field.startswith("$"):
                return {"$and": documents}
            merged[field] = value
    return merged
