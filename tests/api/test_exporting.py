"""Exports of a session's history: each format holds every record, in order, in flat memory."""

import csv
import gc
import io
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models import ChatRecord
from service.api.chats import iter_chat_records
from service.api.context import require_database
from service.api.errors import NotFound
from service.api.exporting import (
    CSV_COLUMNS,
    EXPORT_FORMAT_NAME,
    ExportFormat,
    SessionExport,
    open_export,
)
from service.api.session_import import import_session_export
from service.api.sessions.store import find_session
from service.moonshot_import.writing import ChatWriter
from tests.factories import create_runner, make_chat_record

ENDPOINTS = ["echo-a", "echo-b"]


def record_for(chat_record_id: int, endpoint: str) -> dict[str, Any]:
    """A stored record; every seventh belongs to a run, and prompts hold what CSV must quote."""
    fields: dict[str, Any] = {
        "prompt": f'say "hi", {chat_record_id}\nthen stop é',
        "sent_by": "alice",
    }
    if chat_record_id % 7 == 0:
        fields.update(
            run_id="run-1", score=0.5, success=chat_record_id % 2 == 0, explanation="judged"
        )
    return make_chat_record(chat_record_id, endpoint, **fields).document()


async def fill(runner_id: str, per_endpoint: int, endpoints: list[str] = ENDPOINTS) -> None:
    """Whole buckets written with insert_many, as an import writes them: fast at any size."""
    writer = ChatWriter("default", runner_id, require_database().bucket_size)
    for endpoint in endpoints:
        for chat_record_id in range(1, per_endpoint + 1):
            await writer.add(record_for(chat_record_id, endpoint))
    await writer.finish()


async def content(export: SessionExport) -> bytes:
    return b"".join([chunk async for chunk in export.chunks])


async def stored(runner_id: str, workspace: str = "default") -> list[dict[str, Any]]:
    session = await find_session(runner_id, workspace)
    assert session is not None
    return [
        record
        for endpoint in session.endpoints
        async for record in iter_chat_records(runner_id, endpoint, workspace=workspace)
    ]


async def lines_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


class TestOpenExport:
    async def test_jsonl_of_10000_records_imports_back_record_by_record(self, db):
        runner_id = await create_runner("Export Me", ENDPOINTS, description="About it.")
        await fill(runner_id, 5000)
        export = await open_export(runner_id, workspace="default", format=ExportFormat.JSONL)
        assert export.filename == f"{runner_id}.jsonl"
        assert export.media_type == "application/x-ndjson"
        assert export.total_records == 10_000
        data = await content(export)
        lines = data.decode().splitlines()
        header = json.loads(lines[0])
        assert (header["format"], header["version"]) == (EXPORT_FORMAT_NAME, 1)
        assert header["session"]["session_id"] == runner_id
        assert header["session"]["name"] == "Export Me"
        assert header["session"]["description"] == "About it."
        assert header["total_records"] == 10_000
        assert len(lines) == 10_001

        imported = await import_session_export(lines_of(data), workspace="other", user="bob")
        assert (imported.records, imported.added, imported.created) == (10_000, 10_000, True)
        original, copy = await stored(runner_id), await stored(imported.session_id, "other")
        assert len(copy) == 10_000
        for before, after in zip(original, copy, strict=True):
            assert ChatRecord.model_validate(after) == ChatRecord.model_validate(before)
        source = await find_session(runner_id, "default")
        target = await find_session(imported.session_id, "other")
        assert source is not None and target is not None
        assert target.model_dump(exclude={"session_id"}) == source.model_dump(
            exclude={"session_id"}
        )

    async def test_csv_has_a_header_row_and_one_row_per_record(self, db):
        runner_id = await create_runner("Csv Me", ENDPOINTS)
        await fill(runner_id, 5000)
        export = await open_export(runner_id, workspace="default", format=ExportFormat.CSV)
        assert export.media_type == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO((await content(export)).decode())))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert len(rows) == 10_001
        records = await stored(runner_id)
        for row, record in zip(rows[1:], records, strict=True):
            cells = dict(zip(CSV_COLUMNS, row, strict=True))
            assert cells["session_id"] == runner_id
            assert int(cells["chat_record_id"]) == record["chat_record_id"]
            assert cells["conn_id"] == record["conn_id"]
            assert cells["prompt"] == record["prompt"]
            assert cells["run_id"] == record.get("run_id", "")
            if record.get("run_id"):
                assert float(cells["score"]) == record["score"]
                assert cells["success"] == ("true" if record["success"] else "false")
            else:
                assert cells["score"] == cells["success"] == ""

    async def test_json_is_one_document_with_the_session_and_every_record(self, db):
        runner_id = await create_runner("Json Me", ENDPOINTS)
        await fill(runner_id, 5000)
        export = await open_export(runner_id, workspace="default", format=ExportFormat.JSON)
        assert export.media_type == "application/json"
        data = await content(export)
        document = json.loads(data)
        assert document["session"]["session_id"] == runner_id
        assert len(document["records"]) == 10_000
        assert document["records"] == await stored(runner_id)
        # One record per line inside the array.
        assert data.count(b"\n") >= 10_000

    async def test_records_come_in_id_order_endpoint_by_endpoint(self, db):
        runner_id = await create_runner("Ordered", ENDPOINTS)
        await fill(runner_id, 35)
        data = await content(
            await open_export(runner_id, workspace="default", format=ExportFormat.JSONL)
        )
        records = [json.loads(line) for line in data.splitlines()[1:]]
        assert [(r["conn_id"], r["chat_record_id"]) for r in records] == [
            (endpoint, number) for endpoint in ENDPOINTS for number in range(1, 36)
        ]

    async def test_one_endpoint_alone(self, db):
        runner_id = await create_runner("Just B", ENDPOINTS)
        await fill(runner_id, 12)
        export = await open_export(
            runner_id, workspace="default", format=ExportFormat.JSONL, endpoint="echo-b"
        )
        assert export.total_records == 12
        lines = (await content(export)).splitlines()
        assert json.loads(lines[0])["endpoint"] == "echo-b"
        assert {json.loads(line)["conn_id"] for line in lines[1:]} == {"echo-b"}
        assert len(lines) == 13

    @pytest.mark.parametrize("export_format", list(ExportFormat))
    async def test_a_session_without_records_is_a_valid_file(self, db, export_format):
        runner_id = await create_runner("Empty One", ENDPOINTS)
        export = await open_export(runner_id, workspace="default", format=export_format)
        assert export.total_records == 0
        data = (await content(export)).decode()
        if export_format is ExportFormat.JSON:
            assert json.loads(data)["records"] == []
        elif export_format is ExportFormat.CSV:
            assert list(csv.reader(io.StringIO(data))) == [list(CSV_COLUMNS)]
        else:
            assert len(data.splitlines()) == 1

    async def test_a_record_by_hand_keeps_moonshots_shape_and_a_run_record_its_verdict(self, db):
        runner_id = await create_runner("Shapes", ["echo-a"])
        await fill(runner_id, 7, ["echo-a"])
        data = await content(
            await open_export(runner_id, workspace="default", format=ExportFormat.JSONL)
        )
        records = [json.loads(line) for line in data.splitlines()[1:]]
        assert "run_id" not in records[0] and records[0]["sent_by"] == "alice"
        assert records[6]["run_id"] == "run-1" and records[6]["score"] == 0.5

    async def test_an_unknown_session_or_endpoint_is_not_found(self, db):
        runner_id = await create_runner("Known", ENDPOINTS)
        with pytest.raises(NotFound, match="ghost"):
            await open_export("ghost", workspace="default", format=ExportFormat.JSONL)
        with pytest.raises(NotFound, match="echo-z"):
            await open_export(
                runner_id, workspace="default", format=ExportFormat.CSV, endpoint="echo-z"
            )

    async def test_another_workspace_cannot_export_it(self, db):
        runner_id = await create_runner("Mine Only", ENDPOINTS)
        await fill(runner_id, 3)
        with pytest.raises(NotFound):
            await open_export(runner_id, workspace="theirs", format=ExportFormat.JSONL)

    async def test_an_unknown_format_is_refused(self, db):
        runner_id = await create_runner("Formats", ENDPOINTS)
        with pytest.raises(ValueError, match="xml"):
            await open_export(runner_id, workspace="default", format="xml")  # type: ignore[arg-type]


async def peak_of_consuming(runner_id: str) -> int:
    """The peak of memory allocated while reading the whole export, above what was there."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        export = await open_export(runner_id, workspace="default", format=ExportFormat.JSONL)
        size = 0
        async for chunk in export.chunks:
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert size > export.total_records * 100
    return peak


@pytest.mark.server_only
async def test_memory_stays_flat_from_10000_to_100000_records(db, record_property):
    # mongomock sorts a query's whole result in memory, so flatness is the real server's.
    small = await create_runner("Small Export", ["echo-a"])
    await fill(small, 10_000, ["echo-a"])
    large = await create_runner("Large Export", ["echo-a"])
    await fill(large, 100_000, ["echo-a"])
    small_peak = await peak_of_consuming(small)
    large_peak = await peak_of_consuming(large)
    # The figures, for the report: `--junitxml` writes them out.
    record_property("export_peak_bytes_10000", small_peak)
    record_property("export_peak_bytes_100000", large_peak)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
