"""Reading a Server-Sent Events stream over real HTTP, as a browser's EventSource would."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class ServerEvent:
    id: int
    event: str
    data: dict[str, Any]


async def server_events(response: httpx.Response) -> AsyncIterator[ServerEvent]:
    """The events of a streaming response; comments (keep-alives) are skipped."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield ServerEvent(
                    id=int(fields["id"]), event=fields.get("event", "message"),
                    data=json.loads(fields["data"]),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
