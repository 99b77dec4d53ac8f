"""A run as its readers see it: status, times, and counts per endpoint, in one read."""

from beanie import SortDirection
from pydantic import BaseModel

from models import AttackRun, RunStatus
from models.runs import run_key
from service.api.context import require_database
from service.api.errors import NotFound
from service.api.filters import where
from service.api.runs.transitions import field_endpoint
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_session

# Newest first; a session keeps every run it had.
MAX_LISTED_RUNS = 1000


class EndpointCounts(BaseModel):
    """What one endpoint made of a run's attack prompts so far."""

    sent: int = 0
    answered: int = 0
    failed: int = 0
    successful: int = 0
    # Why it is no longer attacked; None while it is.
    stopped: str | None = None


class RunCounts(BaseModel):
    sent: int = 0
    answered: int = 0
    failed: int = 0
    successful: int = 0


class RunView(BaseModel):
    run_id: str
    session_id: str
    attack_module: str
    metric: str
    status: RunStatus
    seed_prompt: str
    seed: int
    max_iteration: int
    stop_on_success: bool
    parallel_prompts: int
    created_by: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    reason: str
    endpoints: dict[str, EndpointCounts]
    totals: RunCounts


async def require_run(
    runner_id: str, run_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> AttackRun:
    """The session's run, or NotFound (a run of an earlier session of that id is not its)."""
    session = await require_session(runner_id, workspace=workspace)
    run = await AttackRun.get(run_key(workspace, run_id))
    if run is None or run.session_id != runner_id or run.session_epoch != session.created_epoch:
        raise NotFound(f"Run {run_id} of session {runner_id} does not exist.")
    return run


async def get_run(runner_id: str, run_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> RunView:
    return run_view(await require_run(runner_id, run_id, workspace=workspace))


async def list_runs(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> list[RunView]:
    """The session's runs, newest first."""
    session = await require_session(runner_id, workspace=workspace)
    require_database()
    runs = await AttackRun.find(
        where(
            AttackRun.workspace == workspace,
            AttackRun.session_id == runner_id,
            AttackRun.session_epoch == session.created_epoch,
        ),
        sort=[("created_at", SortDirection.DESCENDING)],
        limit=MAX_LISTED_RUNS,
    ).to_list()
    return [run_view(run) for run in runs]


def run_view(run: AttackRun) -> RunView:
    """The run as stored: its counts are kept on it (`counting`), never read from its tasks."""
    stopped = {field_endpoint(key): reason for key, reason in run.stopped.items()}
    counted = {field_endpoint(key): value for key, value in run.counts.items()}
    counts = {
        endpoint: EndpointCounts(**counted.get(endpoint, {}), stopped=stopped.get(endpoint))
        for endpoint in run.endpoints
    }
    totals = RunCounts(**{
        kind: sum(getattr(count, kind) for count in counts.values())
        for kind in RunCounts.model_fields
    })
    return RunView(
        run_id=run.run_id,
        session_id=run.session_id,
        attack_module=run.attack_module,
        metric=run.metric,
        status=run.status,
        seed_prompt=run.seed_prompt,
        seed=run.seed,
        max_iteration=run.max_iteration,
        stop_on_success=run.stop_on_success,
        parallel_prompts=run.parallel_prompts,
        created_by=run.created_by,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        reason=run.reason,
        endpoints=counts,
        totals=totals,
    )
