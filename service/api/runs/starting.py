"""Starting a run: check everything it will need, then store it before anything is queued.

Every check that can fail does so here, with the setting to fix named, rather than a run that
starts and fails at its first step: the module must run in this deployment, its and its
metric's configurations must be usable, and the attacker and judge endpoints must exist.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, validate_call

from models import AttackRun, RegistryKind, RunStatus
from models.runs import UNFINISHED_RUN, run_key
from service.api.endpoints import require_endpoints
from service.api.errors import Conflict, InvalidInput, RejectedArgument
from service.api.events import last_event_seq
from service.api.filters import where
from service.api.limits import DEFAULT_LIMITS, Limits, check_prompt_cost
from service.api.prompting import DEFAULT_HISTORY_LENGTH
from service.api.prompting.admission import admit
from service.api.prompting.creating import prompt_settings
from service.api.registries import find_entry
from service.api.runs.options import RunOptions, run_options
from service.api.runs.transitions import log_run_status
from service.api.schemas import DEFAULT_WORKSPACE, RegistryItem
from service.api.sessions.runners import require_session
from service.api.sessions.schemas import SessionMetadata
from service.redteam.attacks.base import AttackModule
from service.redteam.attacks.errors import InvalidConfiguration
from service.redteam.attacks.pair import Pair
from service.redteam.attacks.registry import ATTACK_MODULES
from service.redteam.metrics import METRICS, JudgedMetric
from service.redteam.metrics.configuration import MetricConfigurationError


@dataclass(frozen=True)
class StartedRun:
    """A run stored (not yet queued), and the session's last event number before it was."""

    runner_id: str
    run_id: str
    after: int

    @property
    def label(self) -> str:
        return f"run {self.run_id}"


@validate_call
async def start_run(
    runner_id: str,
    seed_prompt: Annotated[str, Field(min_length=1)],
    history_length: Annotated[int, Field(ge=0)] | None = DEFAULT_HISTORY_LENGTH,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    created_by: str = "",
    max_queued: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> StartedRun:
    """Store a run of the session's attack module on `seed_prompt`; the caller then queues its
    first step. One run at a time per session: another is refused until it ends."""
    session = await require_session(runner_id, workspace=workspace)
    if not session.endpoints:
        raise InvalidInput(f"Session {runner_id} has no endpoints to attack.", field="endpoints")
    endpoints = list(dict.fromkeys(session.endpoints))
    module, module_entry = await _module(session, workspace)
    options = _options(module, module_entry)
    module_endpoints = await _attacker_endpoints(module, module_entry, workspace)
    metric_configurations, metric_endpoints = await _metric(session, module, workspace)
    settings = await prompt_settings(session, workspace)
    check_prompt_cost(endpoints, seed_prompt, settings, limits)
    await _no_run_in_progress(session, workspace)
    await admit(workspace, len(endpoints), max_queued)
    after = await last_event_seq(runner_id, workspace=workspace)
    run_id = uuid.uuid4().hex
    run = AttackRun(
        id=run_key(workspace, run_id),
        workspace=workspace,
        session_id=runner_id,
        session_epoch=session.created_epoch,
        run_id=run_id,
        attack_module=module.name,
        metric=session.metric,
        seed_prompt=seed_prompt,
        history_length=DEFAULT_HISTORY_LENGTH if history_length is None else history_length,
        endpoints=endpoints,
        module_configurations=module_entry.configurations,
        module_endpoints=module_endpoints,
        metric_configurations=metric_configurations,
        metric_endpoints=metric_endpoints,
        seed=options.seed,
        max_iteration=options.max_iteration,
        stop_on_success=options.stop_on_success,
        parallel_prompts=options.parallel_prompts,
        created_by=created_by,
        created_at=time.time(),
    )
    await run.insert()
    await log_run_status(run, RunStatus.QUEUED)
    return StartedRun(runner_id=runner_id, run_id=run_id, after=after)


async def _module(
    session: SessionMetadata, workspace: str
) -> tuple[AttackModule, RegistryItem]:
    name = session.attack_module
    entry = await find_entry(RegistryKind.ATTACK_MODULE, name, workspace=workspace)
    module = ATTACK_MODULES.get(name)
    if entry is None or module is None:
        reason = entry.reason if entry is not None and entry.reason else "no code for it here"
        raise InvalidInput(
            f"Attack module {name} cannot run in this deployment: {reason}.",
            field="attack_module",
        )
    return module, entry


def _options(module: AttackModule, entry: RegistryItem) -> RunOptions:
    try:
        return run_options(module, entry.configurations)
    except InvalidConfiguration as error:
        raise InvalidInput(
            f"Attack module {module.name}: configuration {error}.",
            field=f"configurations.{error.key}",
        ) from None


async def _attacker_endpoints(
    module: AttackModule, entry: RegistryItem, workspace: str
) -> list[str]:
    """The module's attacker (and, for `pair`, judge) endpoints, each of which must exist."""
    if not module.needs_attacker:
        return []
    wanted = entry.endpoints[:2] if isinstance(module, Pair) else entry.endpoints[:1]
    if not wanted:
        raise InvalidInput(
            f"Attack module {module.name} needs an attacker endpoint: set the module's "
            "endpoints to one of the workspace's endpoints.",
            field="endpoints",
        )
    await _require(wanted, f"Attack module {module.name}", workspace)
    return wanted


async def _metric(
    session: SessionMetadata, module: AttackModule, workspace: str
) -> tuple[dict[str, object], list[str]]:
    """The metric's configurations and judge endpoint (none: scored offline)."""
    name = session.metric
    if not name or isinstance(module, Pair):
        # `pair` is scored by its own judge; the metric's name is still written on records.
        return {}, []
    metric = METRICS.get(name)
    entry = await find_entry(RegistryKind.METRIC, name, workspace=workspace)
    if metric is None or entry is None:
        reason = entry.reason if entry is not None and entry.reason else "no code for it here"
        raise InvalidInput(
            f"Metric {name} cannot run in this deployment: {reason}.", field="metric"
        )
    try:
        metric.validate(entry.configurations)
    except MetricConfigurationError as error:
        raise InvalidInput(f"Metric {name}: {error}", field=f"configurations.{error.key}") from None
    if not isinstance(metric, JudgedMetric):
        return entry.configurations, []
    judge = entry.endpoints[:1]
    if judge and (metric.fallback is None or await _exists(judge, workspace)):
        await _require(judge, f"Metric {name}", workspace)
        return entry.configurations, judge
    if metric.fallback is not None:
        # The catalogue's default judge is not one of this workspace's endpoints: the metric's
        # offline fallback scores instead (the records say which, through `explanation`).
        return entry.configurations, []
    raise InvalidInput(
        f"Metric {name} needs a judge endpoint: set the metric's endpoints to one of the "
        "workspace's endpoints.",
        field="endpoints",
    )


async def _exists(endpoints: list[str], workspace: str) -> bool:
    try:
        await require_endpoints(endpoints, workspace=workspace)
    except RejectedArgument:
        return False
    return True


async def _require(endpoints: list[str], owner: str, workspace: str) -> None:
    for endpoint in endpoints:
        if not await _exists([endpoint], workspace):
            raise InvalidInput(
                f"{owner} names endpoint {endpoint}, which does not exist in the workspace.",
                field="endpoints",
            )


async def _no_run_in_progress(session: SessionMetadata, workspace: str) -> None:
    running = await AttackRun.find_one(where(
        AttackRun.workspace == workspace,
        AttackRun.session_id == session.session_id,
        AttackRun.session_epoch == session.created_epoch,
        {"status": {"$in": [status.value for status in UNFINISHED_RUN]}},
    ))
    if running is not None:
        raise Conflict(
            f"Session {session.session_id} has a run in progress ({running.run_id}): cancel it "
            "or wait for it to end."
        )
