"""Paging of listings: the bounds of `limit`, `offset` and `cursor`, defined once.

The annotated types serve `validate_call` signatures (Moonshot's functions: pydantic's
ValidationError); `check_page` gives the service's own listings `InvalidInput` naming the
argument; the HTTP query parameters are built from the same bounds.
"""

import base64
import binascii
import json
from typing import Annotated

from pydantic import Field

from service.api.errors import InvalidInput

# The largest page a listing answers; `limit` above it is refused rather than clamped.
MAX_LIMIT = 1000
# The page a listing that pages by default (the audit log) answers without `limit`. Moonshot's
# listings answer everything without one, as its clients expect (DESIGN.md, Pagination).
DEFAULT_PAGE_SIZE = 100
# The largest integer MongoDB stores; a bigger skip or id would fail in the driver.
MAX_INT64 = 2**63 - 1

LIMIT_BOUNDS = (1, MAX_LIMIT)
POSITION_BOUNDS = (0, MAX_INT64)

# None (the default) means everything.
Limit = Annotated[int | None, Field(ge=LIMIT_BOUNDS[0], le=LIMIT_BOUNDS[1])]
Offset = Annotated[int, Field(ge=POSITION_BOUNDS[0], le=POSITION_BOUNDS[1])]
# The id of the last item of the previous page; 0 starts at the first.
Cursor = Annotated[int, Field(ge=POSITION_BOUNDS[0], le=POSITION_BOUNDS[1])]

# A keyset cursor (`after`) of a listing: opaque to clients, a few short strings inside.
MAX_AFTER_LENGTH = 1024
After = Annotated[str | None, Field(min_length=1, max_length=MAX_AFTER_LENGTH)]

_BOUNDS = {"limit": LIMIT_BOUNDS, "offset": POSITION_BOUNDS, "cursor": POSITION_BOUNDS}


def check_page(**arguments: int | None) -> None:
    """InvalidInput naming the first of `limit`, `offset`, `cursor` outside its bounds."""
    for name, value in arguments.items():
        low, high = _BOUNDS[name]
        if value is not None and not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", field=name)


def check_limit(limit: int | None) -> None:
    """Refuse a `limit` outside 1..MAX_LIMIT; None (everything) is fine."""
    check_page(limit=limit)


def encode_after(values: tuple[str, ...]) -> str:
    """The opaque `after` cursor of a listing position (URL-safe, no padding)."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_after(token: str, size: int) -> tuple[str, ...]:
    """The position an `after` cursor holds: `size` strings; InvalidInput naming `after` for
    anything a listing did not hand out."""
    invalid = InvalidInput("after is not a cursor this listing gave.", field="after")
    if not token or len(token) > MAX_AFTER_LENGTH:
        raise invalid
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise invalid from error
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(value, str) for value in values)
    ):
        raise invalid
    return tuple(values)
