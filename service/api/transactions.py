"""Running several writes as one transaction where the server supports it."""

from collections.abc import Awaitable, Callable
from typing import Any

from service.api.context import require_database


async def in_transaction(work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(session)` in a transaction, or with `session=None` where there is none.

    `work` must order its writes so that stopping part-way leaves nothing orphaned, since
    without a transaction (mongomock, a standalone mongod) that can happen.
    """
    database = require_database()
    if not database.supports_transactions:
        await work(None)
        return
    async with database.client.start_session() as session:
        await session.with_transaction(work)
