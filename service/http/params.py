"""Path and query parameters shared by the routes: lists return everything unless paged."""

from typing import Annotated

from litestar.params import FromPath, PathParameter, QueryParameter

from service.api.paging import MAX_LIMIT
from service.http.schemas import MAX_INT64

RunnerId = FromPath[str]
Limit = Annotated[
    int | None,
    QueryParameter(
        ge=1, le=MAX_LIMIT, description=f"At most this many items (1 to {MAX_LIMIT}); omit for all."
    ),
]
Offset = Annotated[
    int, QueryParameter(ge=0, le=MAX_INT64, description="Skip this many items first.")
]
Cursor = Annotated[
    int,
    QueryParameter(
        ge=0, le=MAX_INT64, description="`next_cursor` of the previous page; 0 starts at the first."
    ),
]
IncludeHistory = Annotated[
    bool, QueryParameter(description="Also answer every chat record of the session.")
]
PrevPromptsInPath = Annotated[
    int,
    PathParameter(ge=0, le=MAX_INT64, description="Number of previous prompts the strategy uses."),
]
