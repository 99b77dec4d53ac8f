"""The largest page a listing answers; `limit` above it is refused rather than clamped."""

from service.api.errors import InvalidInput

MAX_LIMIT = 1000


def check_limit(limit: int | None) -> None:
    """Refuse a `limit` outside 1..MAX_LIMIT; None (everything) is fine."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
