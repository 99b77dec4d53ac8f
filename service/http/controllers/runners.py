"""Runners: the named owners of sessions."""

from litestar import Controller, get

from service.api.sessions.runners import get_runner, list_runners
from service.http.deps import Workspace
from service.http.params import Limit, Offset, RunnerId
from service.http.schemas import RunnerOut


class RunnerController(Controller):
    path = "/api/v1/runners"
    tags = ["Runners"]

    @get("/", summary="All runners, by id")
    async def list_all_runners(
        self, workspace: Workspace, limit: Limit = None, offset: Offset = 0
    ) -> list[RunnerOut]:
        runners = await list_runners(workspace=workspace, limit=limit, offset=offset)
        return [RunnerOut.model_validate(runner.model_dump()) for runner in runners]

    @get("/{runner_id:str}", summary="One runner")
    async def get_one_runner(self, runner_id: RunnerId, workspace: Workspace) -> RunnerOut:
        runner = await get_runner(runner_id, workspace=workspace)
        return RunnerOut.model_validate(runner.model_dump())
