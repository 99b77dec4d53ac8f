"""A session's red-teaming runs: list them, read one, cancel one."""

from litestar import Controller, get, post
from litestar.params import FromPath

from service.api.runs import cancel_run, get_run, list_runs
from service.http.deps import Workspace
from service.http.params import RunnerId
from service.http.run_schemas import RunCancelled, RunOut

RunId = FromPath[str]


class RunController(Controller):
    path = "/api/v1/sessions/{runner_id:str}/runs"
    tags = ["Red-teaming runs"]

    @get("/", summary="The session's red-teaming runs, newest first")
    async def list_runs(self, runner_id: RunnerId, workspace: Workspace) -> list[RunOut]:
        runs = await list_runs(runner_id, workspace=workspace)
        return [RunOut.model_validate(run.model_dump()) for run in runs]

    @get("/{run_id:str}", summary="A run: status, times and counts per endpoint")
    async def get_run(self, runner_id: RunnerId, run_id: RunId, workspace: Workspace) -> RunOut:
        run = await get_run(runner_id, run_id, workspace=workspace)
        return RunOut.model_validate(run.model_dump())

    @post("/{run_id:str}/cancel", status_code=200, summary="Stop the run")
    async def cancel_run(
        self, runner_id: RunnerId, run_id: RunId, workspace: Workspace
    ) -> RunCancelled:
        status = await cancel_run(runner_id, run_id, workspace=workspace)
        return RunCancelled(run_id=run_id, status=status)
