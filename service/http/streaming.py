"""JSON written piece by piece, so a long chat history is never one object in memory.

A streamed answer cannot change its status once its first chunk is sent, so `started` reads
that chunk before the answer starts: a database that fails by then is a clean 503. One that
fails later ends the body where it is (no longer valid JSON, so a client can tell) with one
log line, rather than an aborted connection and a traceback.
"""

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymongo.errors import PyMongoError

from service.http.schemas import ChatRecordOut

log = logging.getLogger(__name__)

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


async def started(chunks: AsyncIterator[bytes], what: str) -> AsyncIterator[bytes]:
    """`chunks` with its first chunk already read (its errors raised here, before any answer);
    `what` names the answer in the one line logged if the database fails afterwards."""
    first = await anext(chunks, b"")
    return _after(first, chunks, what)


async def _after(first: bytes, chunks: AsyncIterator[bytes], what: str) -> AsyncIterator[bytes]:
    yield first
    try:
        async for chunk in chunks:
            yield chunk
    except PyMongoError as error:
        # The error's text may carry the server's address: its kind is enough here.
        log.warning("%s ended early: the database failed (%s).", what, type(error).__name__)
