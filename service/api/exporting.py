"""A session's whole history as a file (JSONL, CSV or JSON), streamed bucket by bucket.

Nothing is held beyond the bucket being written and one chunk of output, so an export costs
the same memory at a thousand records as at a million.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models import ChatBucket
from models.chats import MoonshotChatRecord
from service.api.aggregation import aggregate
from service.api.chats import iter_chat_records
from service.api.errors import NotFound
from service.api.sessions.store import metadata_of, read_session

# The first line of a JSONL export (and the first keys of a JSON one) say what the file is, so
# an import can refuse a file it does not know how to read.
EXPORT_FORMAT_NAME = "sparring-session"
EXPORT_FORMAT_VERSION = 1
# Output is handed on in pieces of about this size: few enough writes, small enough to be flat.
CHUNK_BYTES = 64 * 1024
# A record's fields in file order: Moonshot's, who sent it, then those of a red-teaming run.
MOONSHOT_FIELDS = tuple(MoonshotChatRecord.model_fields)
RUN_FIELD_ORDER = ("run_id", "score", "success", "explanation", "score_error")
RECORD_FIELDS = (*MOONSHOT_FIELDS, "sent_by", *RUN_FIELD_ORDER)
# A CSV row leads with the session it belongs to: CSV has no place for a header object.
CSV_COLUMNS = ("session_id", *RECORD_FIELDS)
# What a field missing from a stored record (one stored before the field existed) reads as.
_RECORD_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(RECORD_FIELDS, ""), "score": None, "success": None, "explanation": None,
}


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"


MEDIA_TYPES = {
    ExportFormat.JSONL: "application/x-ndjson",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSON: "application/json",
}


@dataclass(frozen=True)
class SessionExport:
    """What an export answers with: its file name and type, how many records it holds (at the
    time it was opened), and its bytes, produced as they are read."""

    filename: str
    media_type: str
    total_records: int
    chunks: AsyncIterator[bytes]


def export_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record in export order: Moonshot's fields and `sent_by`, and a run's fields
    only on the records of a run (as the record itself is stored)."""
    fields = RECORD_FIELDS if record.get("run_id") else (*MOONSHOT_FIELDS, "sent_by")
    return {name: record.get(name, _RECORD_DEFAULTS[name]) for name in fields}


async def open_export(
    session_id: str,
    *,
    workspace: str,
    format: ExportFormat,
    endpoint: str | None = None,
) -> SessionExport:
    """The export of a session (or of one of its endpoints) in `format`.

    NotFound for a session the workspace lacks, or an endpoint not in the session, before any
    byte is produced. Records come in id order per endpoint, the endpoints in the session's
    order.
    """
    format = ExportFormat(format)
    document = await read_session(session_id, workspace)
    if document is None:
        raise NotFound(f"Session {session_id} does not exist.")
    metadata = metadata_of(document)
    endpoints = list(dict.fromkeys(metadata.endpoints))
    if endpoint is not None:
        if endpoint not in endpoints:
            raise NotFound(f"Endpoint {endpoint} is not part of session {session_id}.")
        endpoints = [endpoint]
    total = await _count_records(session_id, endpoints, workspace)
    header = {
        "format": EXPORT_FORMAT_NAME,
        "version": EXPORT_FORMAT_VERSION,
        "session": {
            **metadata.to_dict(),
            "name": document.get("runner_name") or session_id,
            "description": document.get("description", ""),
        },
        "endpoint": endpoint,
        "total_records": total,
    }
    records = _records(session_id, endpoints, workspace)
    writers: dict[ExportFormat, Callable[[], AsyncIterator[bytes]]] = {
        ExportFormat.JSONL: lambda: _jsonl(header, records),
        ExportFormat.CSV: lambda: _csv(session_id, records),
        ExportFormat.JSON: lambda: _json(header, records),
    }
    return SessionExport(
        filename=f"{session_id}.{format.value}",
        media_type=MEDIA_TYPES[format],
        total_records=total,
        chunks=writers[format](),
    )


async def _count_records(session_id: str, endpoints: list[str], workspace: str) -> int:
    # Counted by the server from the bucket arrays' sizes: nothing of the records is sent.
    pipeline: list[dict[str, Any]] = [
        {"$match": {"workspace": workspace, "session_id": session_id,
                    "endpoint": {"$in": endpoints}}},
        {"$group": {"_id": None, "records": {"$sum": {"$size": "$records"}}}},
    ]
    counted = await aggregate(ChatBucket.get_pymongo_collection(), pipeline)
    return int(counted[0]["records"]) if counted else 0


async def _records(
    session_id: str, endpoints: list[str], workspace: str
) -> AsyncIterator[dict[str, Any]]:
    for endpoint in endpoints:
        async for record in iter_chat_records(session_id, endpoint, workspace=workspace):
            yield export_record(record)


def _json_line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


async def _jsonl(
    header: dict[str, Any], records: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    buffer = bytearray(_json_line(header) + b"\n")
    async for record in records:
        buffer += _json_line(record) + b"\n"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


async def _json(
    header: dict[str, Any], records: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    # The header's keys, then "records" last, one record per line: a reader that wants to can
    # still take the file apart line by line.
    opening = _json_line(header)
    buffer = bytearray(opening[:-1] + b',"records":[')
    first = True
    async for record in records:
        buffer += (b"\n" if first else b",\n") + _json_line(record)
        first = False
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}\n" if first else b"\n]}\n"
    yield bytes(buffer)


async def _csv(session_id: str, records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for record in records:
        writer.writerow([session_id, *(_cell(record.get(name)) for name in RECORD_FIELDS)])
        if text.tell() >= CHUNK_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


def _cell(value: Any) -> Any:
    # No value (a record outside a run) is an empty cell; a verdict is written as JSON writes it.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
