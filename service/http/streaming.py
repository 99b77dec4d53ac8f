"""JSON written piece by piece, so a long chat history is never one object in memory."""

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from service.http.schemas import ChatRecordOut

CHUNK_BYTES = 64 * 1024


async def chat_streams_json(
    streams: Mapping[str, AsyncIterator[dict[str, Any]]],
) -> AsyncIterator[bytes]:
    """`{endpoint: [record, ...], ...}` as a stream of chunks of about `CHUNK_BYTES`."""
    buffer = bytearray(b"{")
    for index, (endpoint, records) in enumerate(streams.items()):
        if index:
            buffer += b","
        buffer += json.dumps(endpoint).encode() + b":["
        first = True
        async for record in records:
            if not first:
                buffer += b","
            first = False
            buffer += ChatRecordOut.model_validate(record).model_dump_json().encode()
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        buffer += b"]"
    buffer += b"}"
    yield bytes(buffer)
