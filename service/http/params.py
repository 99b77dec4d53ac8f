"""Path and query parameters shared by the routes: lists return everything unless paged."""

from typing import Annotated

from litestar.params import FromPath, PathParameter, QueryParameter

from service.api.paging import LIMIT_BOUNDS, MAX_AFTER_LENGTH, MAX_INT64, POSITION_BOUNDS

RunnerId = FromPath[str]
# The bounds are the domain's (`service.api.paging`), so both faces refuse the same values.
Limit = Annotated[
    int | None,
    QueryParameter(
        ge=LIMIT_BOUNDS[0],
        le=LIMIT_BOUNDS[1],
        description=f"At most this many items (1 to {LIMIT_BOUNDS[1]}); omit for all.",
    ),
]
Offset = Annotated[
    int,
    QueryParameter(
        ge=POSITION_BOUNDS[0], le=POSITION_BOUNDS[1], description="Skip this many items first."
    ),
]
Cursor = Annotated[
    int,
    QueryParameter(
        ge=POSITION_BOUNDS[0],
        le=POSITION_BOUNDS[1],
        description="`next_cursor` of the previous page; 0 starts at the first.",
    ),
]
# A keyset cursor of the session listings: the `X-Next-After` header of the previous page.
After = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=MAX_AFTER_LENGTH,
        description="`X-Next-After` of the previous page: list the sessions past it.",
    ),
]
IncludeHistory = Annotated[
    bool, QueryParameter(description="Also answer every chat record of the session.")
]
PrevPromptsInPath = Annotated[
    int,
    PathParameter(ge=0, le=MAX_INT64, description="Number of previous prompts the strategy uses."),
]
