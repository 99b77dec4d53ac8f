"""Moonshot's attack module and metric settings (endpoints, configurations) into a workspace."""

from models import RegistryKind
from service.api.errors import NotFound
from service.api.registries import KIND_LABELS, configure_entry, find_entry
from service.moonshot_import.reader import EntrySetting


async def import_entry_settings(
    kind: RegistryKind, setting: EntrySetting, *, workspace: str
) -> bool:
    """Set what the file sets for one entry; False when the workspace has it so already.

    NotFound for a name the workspace does not know; `configure_entry`'s InvalidInput for an
    endpoint the workspace lacks.
    """
    current = await find_entry(kind, setting.name, workspace=workspace)
    if current is None:
        raise NotFound(f"{KIND_LABELS[kind]} {setting.name} does not exist.")
    endpoints = None if setting.endpoints is None else list(dict.fromkeys(setting.endpoints))
    if (endpoints is None or current.endpoints == endpoints) and (
        setting.configurations is None or current.configurations == setting.configurations
    ):
        return False
    await configure_entry(
        kind, setting.name, endpoints=endpoints, configurations=setting.configurations,
        workspace=workspace,
    )
    return True
