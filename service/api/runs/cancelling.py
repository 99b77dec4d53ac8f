"""Cancelling runs: one by id, or every unfinished run of a session (Moonshot's cancel)."""

from beanie.operators import In

from models import AttackRun, RunStatus
from models.runs import UNFINISHED_RUN
from service.api.filters import where
from service.api.runs.advancing import end_run
from service.api.runs.views import require_run
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_session

CANCELLED_BY_USER = "cancelled"


async def cancel_run(
    runner_id: str, run_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> RunStatus:
    """Cancel the run; returns its status afterwards (a run that had ended keeps its own).

    When this returns, nothing more of the run is appended: tasks that had built their record
    are appended first, the rest are cancelled.
    """
    run = await require_run(runner_id, run_id, workspace=workspace)
    await end_run(run, RunStatus.CANCELLED, reason=CANCELLED_BY_USER)
    ended = await AttackRun.get(run.id)
    return RunStatus.CANCELLED if ended is None else ended.status


async def cancel_runs(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
    """Cancel every unfinished run of the session; returns their ids."""
    session = await require_session(runner_id, workspace=workspace)
    runs = await AttackRun.find(where(
        AttackRun.workspace == workspace,
        AttackRun.session_id == runner_id,
        AttackRun.session_epoch == session.created_epoch,
        In(AttackRun.status, list(UNFINISHED_RUN)),
    )).to_list()
    for run in runs:
        await end_run(run, RunStatus.CANCELLED, reason=CANCELLED_BY_USER)
    return [run.run_id for run in runs]
