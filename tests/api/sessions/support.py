"""What the session tests share: Moonshot's texts, endpoints to name, a way to add chats."""

import re

from service.api.chats import append_chat_records, reserve_chat_record_ids
from tests.factories import create_endpoint, make_chat_record

RUNNER_MISSING = re.escape(
    "[Runner] Unable to load runner because the runner file does not exist."
)


async def register_echo_endpoints() -> None:
    """The endpoints the web API's sessions name, registered in each workspace the tests use."""
    for workspace in ("default", "red", "blue"):
        for name in ("echo-a", "echo-b"):
            await create_endpoint(name, workspace=workspace)


async def add_chats(runner_id: str, endpoint: str, count: int) -> list[int]:
    ids = await reserve_chat_record_ids(runner_id, endpoint, count)
    await append_chat_records(runner_id, endpoint, [make_chat_record(i, endpoint) for i in ids])
    return ids
