"""The benchmark's import case: noted as not run without Moonshot, and its record check bites."""

import json
from pathlib import Path

import pytest

from bench.cases import imports
from bench.context import RunContext
from bench.plan import TINY
from service.api.accounts import create_workspace
from service.moonshot_import.importer import import_moonshot_folder
from tests.factories import TEST_CIPHER
from tests.moonshot_import.moonshot_folder import MoonshotFolder, runner_spec

SPEC = runner_spec("bench-source", {"echo-a": 3, "echo-b": 2})


async def test_without_moonshot_the_case_is_noted_not_run(tmp_path):
    context = RunContext(
        plan=TINY,
        # Without Moonshot the case returns before it uses Sparring's database.
        sparring=None,  # type: ignore[arg-type]
        moonshot=None,
        work_dir=tmp_path,
    )
    result = await imports.run(context)
    assert result.figures == []
    assert result.notes == [
        "import: not run: --sparring-only (the session to import is made by Moonshot itself)"
    ]


@pytest.fixture
async def imported(db, tmp_path) -> Path:
    """SPEC imported into the case's workspace; returns Moonshot's answer as the case writes it."""
    folder = MoonshotFolder(tmp_path / "moonshot")
    folder.runner(SPEC)
    await create_workspace(imports.WORKSPACE, actor="cli")
    report = await import_moonshot_folder(
        folder.root, workspace=imports.WORKSPACE, cipher=TEST_CIPHER
    )
    assert not report.failed, report.summary()
    answer = tmp_path / "moonshot-chats.jsonl"
    write_answer(answer, [
        {"endpoint": endpoint, **record}
        for endpoint in SPEC.endpoints for record in SPEC.records[endpoint]
    ])
    return answer


def write_answer(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def read_answer(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestRecordCheck:
    async def test_passes_when_every_record_matches(self, imported):
        assert await imports.check_records("bench-source", imported) == 5

    async def test_a_field_that_differs_is_named(self, imported):
        lines = read_answer(imported)
        lines[3]["predicted_result"] = "something else"
        write_answer(imported, lines)
        with pytest.raises(imports.ImportMismatch, match="record 4 differs"):
            await imports.check_records("bench-source", imported)

    async def test_a_record_missing_on_either_side_is_caught(self, imported):
        lines = read_answer(imported)
        write_answer(imported, lines[:-1])
        with pytest.raises(imports.ImportMismatch, match="more records of echo-b"):
            await imports.check_records("bench-source", imported)
        write_answer(imported, [*lines, lines[-1]])
        with pytest.raises(imports.ImportMismatch, match="fewer records"):
            await imports.check_records("bench-source", imported)
