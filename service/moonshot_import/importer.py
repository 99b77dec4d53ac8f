"""Brings a whole Moonshot data folder into a workspace, item by item, idempotently.

Each item (an endpoint, a template, an entry's settings, a runner with its session) is
imported whole or not at all, and one that is already there is skipped: running the import
again changes nothing. Every item ends up in the report, with the reason when it was not
imported.
"""

from pathlib import Path

from models import Endpoint, RegistryKind, Workspace
from models.endpoints import endpoint_key
from service.api.context import require_database
from service.api.errors import Conflict, InvalidInput, NotFound, SparringError
from service.api.registries import KIND_LABELS, create_prompt_template, find_entry
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.checks import NAMED_SETTINGS
from service.moonshot_import.endpoints import EndpointExists, import_endpoint
from service.moonshot_import.entries import import_entry_settings
from service.moonshot_import.reader import (
    METRICS_CONFIG,
    MoonshotDataError,
    MoonshotFolder,
    SessionRow,
    open_runner_database,
    read_endpoint,
    read_entry_settings,
    read_template,
)
from service.moonshot_import.report import ImportReport, ItemKind, NoProgress, Outcome, Progress
from service.moonshot_import.sessions import SessionSkipped, import_session
from service.tokens import TokenCipher


async def import_moonshot_folder(
    data_dir: Path,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    cipher: TokenCipher,
    progress: Progress | None = None,
) -> ImportReport:
    """Import endpoints, prompt templates, entry settings and sessions from `data_dir`.

    MissingDataFolder (a MoonshotDataError) when `data_dir` is no folder; NotFound when the
    workspace does not exist. Endpoints come first, so that the settings and sessions naming
    them find them.
    """
    folder = MoonshotFolder(data_dir)
    require_database()
    if workspace != DEFAULT_WORKSPACE and await Workspace.get(workspace) is None:
        raise NotFound(
            f"Workspace {workspace} does not exist; create it first "
            f"(sparring admin create-workspace {workspace})."
        )
    shown = progress or NoProgress()
    report = ImportReport(workspace=workspace)
    await _endpoints(folder, report, workspace, cipher, shown)
    await _templates(folder, report, workspace, shown)
    await _entry_settings(folder, report, workspace, shown)
    await _sessions(folder, report, workspace, shown)
    return report


async def _endpoints(
    folder: MoonshotFolder,
    report: ImportReport,
    workspace: str,
    cipher: TokenCipher,
    progress: Progress,
) -> None:
    paths = folder.endpoint_paths()
    progress.begin("endpoints", len(paths))
    for path in paths:
        try:
            source = read_endpoint(path)
            runnable = await import_endpoint(source, workspace=workspace, cipher=cipher)
        except EndpointExists:
            report.add(ItemKind.ENDPOINT, path.stem, Outcome.SKIPPED, "already in the workspace")
        except (MoonshotDataError, InvalidInput) as error:
            report.add(ItemKind.ENDPOINT, path.stem, Outcome.FAILED, str(error))
        else:
            reason = "" if runnable else (
                f"not runnable here: Sparring has no connector {source.fields['connector_type']!r}"
            )
            report.add(ItemKind.ENDPOINT, path.stem, Outcome.IMPORTED, reason)
        progress.advance()
    progress.end()


async def _templates(
    folder: MoonshotFolder, report: ImportReport, workspace: str, progress: Progress
) -> None:
    paths = folder.template_paths()
    progress.begin("prompt templates", len(paths))
    kind = RegistryKind.PROMPT_TEMPLATE
    for path in paths:
        try:
            source = read_template(path)
            # Sessions name a template by its id (the file's name), so that is its name here.
            if await find_entry(kind, source.template_id, workspace=workspace) is not None:
                raise Conflict("already in the workspace (or built in)")
            await create_prompt_template(
                source.template_id, source.description, source.template, workspace=workspace
            )
        except Conflict:
            report.add(
                ItemKind.PROMPT_TEMPLATE, path.stem, Outcome.SKIPPED,
                "already in the workspace (or built in)",
            )
        except (MoonshotDataError, InvalidInput) as error:
            report.add(ItemKind.PROMPT_TEMPLATE, path.stem, Outcome.FAILED, str(error))
        else:
            report.add(ItemKind.PROMPT_TEMPLATE, path.stem, Outcome.IMPORTED)
        progress.advance()
    progress.end()


async def _entry_settings(
    folder: MoonshotFolder, report: ImportReport, workspace: str, progress: Progress
) -> None:
    for path in folder.config_paths():
        is_metric = path.name == METRICS_CONFIG.name
        kind = RegistryKind.METRIC if is_metric else RegistryKind.ATTACK_MODULE
        item_kind = ItemKind.METRIC if is_metric else ItemKind.ATTACK_MODULE
        try:
            settings = read_entry_settings(path)
        except MoonshotDataError as error:
            report.add(ItemKind.FILE, path.name, Outcome.FAILED, str(error))
            continue
        progress.begin(item_kind.value, len(settings))
        for setting in settings:
            try:
                changed = await import_entry_settings(kind, setting, workspace=workspace)
            except (SparringError, ValueError) as error:
                report.add(item_kind, setting.name, Outcome.FAILED, str(error))
            else:
                if changed:
                    report.add(item_kind, setting.name, Outcome.IMPORTED)
                else:
                    report.add(item_kind, setting.name, Outcome.SKIPPED, "already set so")
            progress.advance()
        progress.end()


async def _sessions(
    folder: MoonshotFolder, report: ImportReport, workspace: str, progress: Progress
) -> None:
    for path in folder.runner_paths():
        name = path.stem
        try:
            runner = folder.read_runner(path)
            name = runner.runner_id
            database = open_runner_database(runner.database)
        except MoonshotDataError as error:
            report.add(ItemKind.SESSION, name, Outcome.FAILED, str(error))
            continue
        try:
            if database.session is None:
                report.add(
                    ItemKind.SESSION, name, Outcome.SKIPPED, "its database holds no session"
                )
                continue
            progress.begin(f"session {name}", sum(database.counts.values()))
            try:
                records = await import_session(
                    runner, database, database.session, workspace=workspace, progress=progress
                )
            finally:
                progress.end()
        except SessionSkipped as skipped:
            report.add(ItemKind.SESSION, name, Outcome.SKIPPED, str(skipped))
        except (MoonshotDataError, SparringError, ValueError) as error:
            report.add(ItemKind.SESSION, name, Outcome.FAILED, str(error))
        else:
            missing = await _missing_references(database.session, workspace)
            reason = f"refers to what the workspace lacks: {', '.join(missing)}" if missing else ""
            report.add(ItemKind.SESSION, name, Outcome.IMPORTED, reason, records=records)
        finally:
            database.close()


async def _missing_references(session: SessionRow, workspace: str) -> list[str]:
    """The endpoints and named settings of an imported session the workspace does not have.

    Kept as Moonshot had them (its sessions keep names too); said, so that nobody wonders why
    a prompt there answers `[error] `.
    """
    cursor = Endpoint.get_pymongo_collection().find(
        {"_id": {"$in": [endpoint_key(workspace, endpoint) for endpoint in session.endpoints]}},
        {"endpoint_id": 1},
    )
    found = {document["endpoint_id"] async for document in cursor}
    missing = [f"endpoint {endpoint}" for endpoint in session.endpoints if endpoint not in found]
    for field, kind, _ in NAMED_SETTINGS:
        value = getattr(session, field)
        if value and await find_entry(kind, value, workspace=workspace) is None:
            missing.append(f"{KIND_LABELS[kind].lower()} {value}")
    return missing
