"""`sparring import-moonshot DATA_DIR [--workspace W]`: a progress bar, then the summary."""

import argparse
import asyncio
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from service.cli_support import Subparsers, load_settings
from service.logs import configure_logging
from service.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from service.moonshot_import.report import ImportReport

# Exit codes: every item imported or skipped; some item failed; the folder or workspace is
# unusable (nothing was imported).
EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_UNUSABLE = 2


class ProgressBar:
    """The import's progress as a rich bar on stderr, one bar per phase (and per session)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar: RichProgress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> "ProgressBar":
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def begin(self, label: str, total: int) -> None:
        self._task = self._bar.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def end(self) -> None:
        if self._task is not None:
            # A phase that read fewer rows than counted still ends full.
            (task,) = [task for task in self._bar.tasks if task.id == self._task]
            self._bar.update(self._task, completed=task.total)
        self._task = None


async def _import(data_dir: Path, workspace: str, settings: Settings) -> "ImportReport":
    from service.database import close_database, open_database
    from service.moonshot_import.importer import import_moonshot_folder
    from service.tokens import TokenCipher

    await open_database(settings)
    try:
        with ProgressBar() as progress:
            return await import_moonshot_folder(
                data_dir, workspace=workspace, cipher=TokenCipher.from_settings(settings),
                progress=progress,
            )
    finally:
        await close_database()


def run_import(args: argparse.Namespace) -> int:
    # Imported when run, so that registering the command keeps `sparring --help` light.
    from service.api.errors import SparringError
    from service.moonshot_import.reader import MoonshotDataError

    data_dir: Path = args.data_dir
    if not data_dir.is_dir():
        # Before any database is started: there is nothing to import.
        sys.stderr.write(f"sparring import-moonshot: {data_dir} is not a folder.\n")
        return EXIT_UNUSABLE
    settings = load_settings()
    configure_logging(settings)
    try:
        report = asyncio.run(_import(data_dir, args.workspace, settings))
    except (MoonshotDataError, SparringError) as error:
        sys.stderr.write(f"sparring import-moonshot: {error}\n")
        return EXIT_UNUSABLE
    sys.stdout.write(report.summary() + "\n")
    return EXIT_ITEMS_FAILED if report.failed else EXIT_OK


def add_import_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "import-moonshot",
        help="Import a Moonshot data folder (endpoints, prompt templates, attack module and "
        "metric settings, sessions with their chats) into a workspace; safe to run again.",
    )
    parser.add_argument(
        "data_dir", type=Path, metavar="DATA_DIR",
        help="Moonshot's data folder: connectors-endpoints/, prompt-templates/, ..., "
        "generated-outputs/.",
    )
    parser.add_argument(
        "--workspace", default="default", help="Where to import to (default: default)."
    )
    parser.set_defaults(handler=run_import)
