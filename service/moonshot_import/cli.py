"""`sparring import-moonshot DATA_DIR [--workspace W]`: a progress bar, then the summary."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from service.cli_progress import ProgressBar
from service.cli_support import Subparsers, load_settings
from service.logs import configure_logging
from service.settings import Settings

if TYPE_CHECKING:
    from service.moonshot_import.report import ImportReport

# Exit codes: every item imported or skipped; some item failed; the folder or workspace is
# unusable (nothing was imported).
EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_UNUSABLE = 2


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
