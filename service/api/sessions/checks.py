"""Checks of what a session is made or changed with: its runner's id and the names it uses."""

from typing import Any

from slugify import slugify

from models import RegistryKind
from service.api.errors import EMPTY_RUNNER_ID, INVALID_RUNNER_ID, InvalidInput, RejectedArgument
from service.api.registries import require_entry

# The session settings that name a registry entry, the kind each names, and the key
# `runner_args` gives it under (Moonshot reads the metric from `metric_id`).
NAMED_SETTINGS = (
    ("prompt_template", RegistryKind.PROMPT_TEMPLATE, "prompt_template"),
    ("context_strategy", RegistryKind.CONTEXT_STRATEGY, "context_strategy"),
    ("attack_module", RegistryKind.ATTACK_MODULE, "attack_module"),
    ("metric", RegistryKind.METRIC, "metric_id"),
)
# The `runner_args` key of each session setting whose key is not the setting's own name.
RUNNER_ARG_KEYS = {
    field: argument for field, _, argument in NAMED_SETTINGS if argument != field
}


def check_runner_id(runner_id: str) -> None:
    """Moonshot's rule: a runner id is not empty and is its own lowercase slug."""
    if not runner_id:
        raise RejectedArgument(EMPTY_RUNNER_ID, field="runner_id")
    if slugify(runner_id, lowercase=True) != runner_id:
        raise RejectedArgument(INVALID_RUNNER_ID, field="runner_id")


def runner_id_for(name: str) -> str:
    """The id Moonshot derives from a runner's name."""
    runner_id = slugify(name, lowercase=True)
    if not runner_id:
        raise InvalidInput(
            f"name {name!r} has no letters or digits to make an id from.", field="name"
        )
    return runner_id


async def check_named_settings(runner_args: dict[str, Any], workspace: str) -> None:
    """Each name `runner_args` gives must exist; the error names its `runner_args` key."""
    for _, kind, argument in NAMED_SETTINGS:
        name = runner_args.get(argument, "")
        if name:
            await require_entry(kind, str(name), field=argument, workspace=workspace)


async def check_named_fields(fields: dict[str, Any], workspace: str) -> None:
    """Each name among the session settings `fields` must exist; `""` (clear) always may."""
    for field, kind, _ in NAMED_SETTINGS:
        if fields.get(field):
            await require_entry(kind, fields[field], field=field, workspace=workspace)
