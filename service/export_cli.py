"""`sparring export SESSION` and `sparring import FILE`: a session out to a file and back in.

Against the server in SPARRING_URL (with SPARRING_API_KEY) when it is set, else against the
local database, as `sparring import-moonshot` opens it. A progress bar on stderr counts the
records and their rate; errors are one line and exit code 1.
"""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from service.cli_progress import ProgressBar
from service.cli_support import Subparsers, load_settings
from service.logs import configure_logging
from service.settings import Settings

if TYPE_CHECKING:
    from service.client import ImportedSession

EXIT_OK = 0
EXIT_FAILED = 1
FORMATS = ("jsonl", "csv", "json")
# Where commands acting on the local database act from, as `sparring admin` does.
CLI_USER = "cli"

Sink = Callable[[bytes], None]


def _shown(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


# Export.


async def _stream_export(
    args: argparse.Namespace, settings: Settings, sink: Sink, progress: ProgressBar
) -> int:
    """Write the export to `sink`; returns the number of records."""
    from service.client.records import RecordCounter

    counter = RecordCounter(args.format)
    async with contextlib.AsyncExitStack() as stack:
        total, chunks = await _open_export(args, settings, stack)
        progress.begin(f"Exporting {args.session}", total)
        async for chunk in chunks:
            sink(chunk)
            counter.feed(chunk)
            progress.update(counter.records)
    counter.finish()
    records = total if total is not None else counter.records
    progress.update(records)
    return records


async def _open_export(
    args: argparse.Namespace, settings: Settings, stack: contextlib.AsyncExitStack
) -> tuple[int | None, AsyncIterator[bytes]]:
    """The export's record total and chunks, from the server or the local database; what it
    opened closes with `stack`."""
    if settings.url is not None:
        from service.client import AsyncClient
        from service.client.options import from_settings

        url, key = from_settings(settings)
        client = await stack.enter_async_context(AsyncClient(url, key))
        stream = await stack.enter_async_context(
            client.export(args.session, format=args.format, endpoint=args.endpoint)
        )
        return stream.info.total_records, aiter(stream)
    from service.api.exporting import ExportFormat, open_export
    from service.database import close_database, open_database

    await open_database(settings)
    stack.push_async_callback(close_database)
    export = await open_export(
        args.session, workspace=args.workspace, format=ExportFormat(args.format),
        endpoint=args.endpoint,
    )
    return export.total_records, export.chunks


def run_export(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings)
    output: Path | None = args.output
    try:
        with OutputSink(output) as sink, ProgressBar(
            shown=_shown(args), unit="records"
        ) as progress:
            records = asyncio.run(_stream_export(args, settings, sink.write, progress))
    except _failures() as error:
        return _fail("export", error)
    if output is not None:
        sys.stderr.write(f"Exported {records} records of {args.session} to {output}.\n")
    return EXIT_OK


class OutputSink:
    """The output file (created only once the export has started: a refused export leaves
    no empty file behind), else stdout's bytes."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> "OutputSink":
        return self

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = sys.stdout.buffer if self._path is None else self._path.open("wb")
        self._file.write(chunk)

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None and self._path is not None:
            self._file.close()
        elif self._file is not None:
            self._file.flush()


# Import.


async def _import(
    args: argparse.Namespace, settings: Settings, progress: ProgressBar
) -> "ImportedSession":
    path: Path = args.file
    lines = _counted_lines(path, progress)
    if settings.url is not None:
        from service.client import AsyncClient
        from service.client.options import from_settings

        url, key = from_settings(settings)
        async with AsyncClient(url, key) as client:
            return await client.import_session(lines)
    from service.api.session_import import import_session_export
    from service.client import ImportedSession
    from service.database import close_database, open_database

    await open_database(settings)
    try:
        imported = await import_session_export(lines, workspace=args.workspace, user=CLI_USER)
    finally:
        await close_database()
    return ImportedSession.model_validate(imported, from_attributes=True)


async def _counted_lines(path: Path, progress: ProgressBar) -> AsyncIterator[bytes]:
    """The file's lines as read, counted as records (the first is the session's header)."""
    import anyio

    progress.begin(f"Importing {path.name}", None)
    lines = 0
    async with await anyio.open_file(path, "rb") as file:
        async for line in file:
            lines += 1
            progress.update(max(0, lines - 1))
            yield line


def run_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        sys.stderr.write(f"sparring import: {path} is not a file.\n")
        return EXIT_FAILED
    settings = load_settings()
    configure_logging(settings)
    try:
        with ProgressBar(shown=_shown(args), unit="records") as progress:
            imported = asyncio.run(_import(args, settings, progress))
    except _failures() as error:
        return _fail("import", error)
    state = "Created" if imported.created else "Found"
    sys.stdout.write(
        f"{state} session {imported.session_id} ({imported.name}): {imported.records} records, "
        f"{imported.added} added.\n"
    )
    return EXIT_OK


def _failures() -> tuple[type[BaseException], ...]:
    """Errors a user can act on, told in one line (imported only when one happened). The
    domain's messages and the server's never hold a key; an OSError names the file."""
    from pydantic import ValidationError

    from service.api.errors import SparringError

    return (SparringError, OSError, ValidationError, ValueError)



def _fail(command: str, error: BaseException) -> int:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    sys.stderr.write(f"sparring {command}: {message}\n")
    return EXIT_FAILED


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace", default="default",
        help="Workspace of the local database (default: default); over SPARRING_URL the API "
        "key decides.",
    )
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")


def add_export_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="Write a session's records to a file or stdout (SPARRING_URL with "
        "SPARRING_API_KEY, else the local database).",
    )
    parser.add_argument("session", metavar="SESSION", help="The session (runner) id.")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="Default: jsonl.")
    parser.add_argument("--endpoint", help="Only this endpoint's records.")
    parser.add_argument("--output", type=Path, help="File to write (default: stdout).")
    _common(parser)
    parser.set_defaults(handler=run_export)


def add_session_import_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "import",
        help="Read a session exported as JSONL back in (a new name if taken; safe to run "
        "again).",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="A `sparring export` JSONL file.")
    _common(parser)
    parser.set_defaults(handler=run_import)
