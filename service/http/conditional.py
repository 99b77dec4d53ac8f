"""Conditional GET: `If-None-Match` against a listing's ETag, answered 304 when it matches."""

from typing import Annotated

from litestar.params import HeaderParameter

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        description="The ETag of an earlier answer: 304 with no body while it is still current.",
    ),
]


def none_match(if_none_match: str | None, tag: str) -> bool:
    """Whether `If-None-Match` names `tag` (or is `*`): the client's copy is current.

    The comparison is weak, as RFC 9110 asks for If-None-Match: `W/"x"` matches `"x"`.
    """
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == tag:
            return True
    return False
