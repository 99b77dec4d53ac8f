"""Import case: Moonshot makes a session of K records, Sparring imports its data folder.

Moonshot writes the runner, its session and K chat records over two endpoints through its own
API and storage (`bench.moonshot.sources`); `import_moonshot_folder` (what `sparring
import-moonshot` runs) then brings the folder into a workspace, timed, and every imported record
is checked against what Moonshot answers for the session, field by field and in order. A second
import, which must change nothing, is timed too. Needs Moonshot: with --sparring-only the case
is noted as not run.
"""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.context import RunContext, log
from bench.figures import CaseResult, rate_of, rated, timed
from service.api import api_load_session, iter_chat_records
from service.api.accounts import create_workspace
from service.moonshot_import.importer import import_moonshot_folder
from service.moonshot_import.report import ImportReport, ItemKind, Outcome
from service.tokens import TokenCipher

CASE = "import"
WORKSPACE = "bench-import"
ENDPOINTS = ["echo-a", "echo-b"]
NOT_RUN = "import: not run: --sparring-only (the session to import is made by Moonshot itself)"
# Moonshot's session metadata fields the import must keep as Moonshot answers them.
METADATA_FIELDS = (
    "session_id", "endpoints", "created_datetime", "prompt_template", "context_strategy",
    "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
)


class ImportMismatch(RuntimeError):
    """What Sparring holds after the import differs from what Moonshot answers."""


async def run(context: RunContext) -> CaseResult:
    if context.moonshot is None:
        return CaseResult(notes=[NOT_RUN])
    records = context.plan.import_records
    data = context.moonshot.fresh_data("import", ENDPOINTS)
    chats_file = data.parent / f"{data.name}-moonshot-chats.jsonl"
    log.info("import: Moonshot makes a session of %s records", records)
    source = await context.moonshot.run_case(
        "import_source",
        {"records": records, "endpoints": ENDPOINTS, "chats_file": str(chats_file)},
        data,
    )
    await create_workspace(WORKSPACE, actor="bench")
    cipher = TokenCipher(b"sparring bench import")
    log.info("import: Sparring imports %s", data)
    started = time.perf_counter()
    report = await import_moonshot_folder(data, workspace=WORKSPACE, cipher=cipher)
    seconds = time.perf_counter() - started
    runner_id = source["runner_id"]
    _check_report(report, runner_id, records)
    checked = await check_records(runner_id, chats_file)
    await _check_metadata(runner_id, source["metadata"])
    started = time.perf_counter()
    again = await import_moonshot_folder(data, workspace=WORKSPACE, cipher=cipher)
    again_s = time.perf_counter() - started
    if not again.changed_nothing:
        raise ImportMismatch(f"the second import changed something:\n{again.summary()}")
    size = f"K={records}"
    moonshot_rate = rate_of(records, source["fill_s"])
    return CaseResult(figures=[
        rated(
            CASE, "import", "import a Moonshot data folder (SQLite runner → workspace)", size,
            "records/s", rate_of(records, seconds), None,
            note=f"{checked} records checked against Moonshot's answer; Moonshot made them at "
            f"{moonshot_rate['per_s']:.0f} records/s (one commit each)",
        ),
        timed(
            CASE, "reimport", "import the same folder again (nothing to do)", size,
            [again_s], None,
        ),
    ])


def _check_report(report: ImportReport, runner_id: str, records: int) -> None:
    sessions = [item for item in report.items if item.kind is ItemKind.SESSION]
    expected = [(runner_id, Outcome.IMPORTED, records)]
    if [(item.name, item.outcome, item.records) for item in sessions] != expected or (
        report.failed
    ):
        raise ImportMismatch(f"the import did not import the session whole:\n{report.summary()}")


async def check_records(runner_id: str, chats_file: Path) -> int:
    """Compare every record, in order, with Moonshot's; returns how many were compared."""
    checked = 0
    with chats_file.open(encoding="utf-8") as lines:
        theirs = (json.loads(line) for line in lines)
        for endpoint in ENDPOINTS:
            async for mine in _records(runner_id, endpoint):
                expected = next(theirs, None)
                if expected is None or expected.pop("endpoint") != endpoint:
                    raise ImportMismatch(f"Sparring holds more records of {endpoint} than Moonshot")
                got = {name: mine.get(name) for name in expected}
                if got != expected:
                    raise ImportMismatch(
                        f"record {checked + 1} differs: Sparring {got!r}, Moonshot {expected!r}"
                    )
                checked += 1
        if next(theirs, None) is not None:
            raise ImportMismatch(f"Sparring holds fewer records than Moonshot ({checked})")
    return checked


def _records(runner_id: str, endpoint: str) -> AsyncIterator[dict[str, Any]]:
    return iter_chat_records(runner_id, endpoint, workspace=WORKSPACE)


async def _check_metadata(runner_id: str, theirs: dict[str, Any]) -> None:
    mine = await api_load_session(runner_id, workspace=WORKSPACE)
    if mine is None:
        raise ImportMismatch(f"Sparring has no session {runner_id} after the import")
    differing = [name for name in METADATA_FIELDS if mine[name] != theirs[name]]
    if float(mine["created_epoch"]) != float(theirs["created_epoch"]):
        differing.append("created_epoch")
    if differing:
        raise ImportMismatch(f"the session's {', '.join(differing)} differ from Moonshot's")
