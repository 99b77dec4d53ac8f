"""HTTP case: both web APIs under uvicorn on 127.0.0.1, concurrent clients for a bounded time,
on `GET /api/v1/sessions` (N sessions) and `GET /api/v1/sessions/{id}?include_history=false`.
"""

from typing import Any

import httpx

from bench.context import RunContext, log
from bench.figures import CaseResult, rated
from bench.load import load
from bench.processes import Server
from bench.sparring import serve
from bench.workload import SESSION_ENDPOINTS, runner_id, runner_name
from service.api.sessions.runners import create_runner_with_session, delete_runner

CASE = "http"
# The workspace a key-less request on loopback acts in (local mode).
WORKSPACE = "default"
ROUTES = {
    "list_sessions": "GET /api/v1/sessions",
    "get_session": "GET /api/v1/sessions/{id}?include_history=false",
}


def paths(route: str, sessions: int) -> list[str]:
    if route == "list_sessions":
        return ["/api/v1/sessions"]
    return [
        f"/api/v1/sessions/{runner_id(index)}?include_history=false"
        for index in range(1, sessions + 1)
    ]


async def check_answers(server: Server, sessions: int) -> None:
    """Both routes answer what they should before any load is put on them."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as client:
        listed = await client.get("/api/v1/sessions")
        if listed.status_code != 200 or len(listed.json()) != sessions:
            raise RuntimeError(
                f"{server.name}: GET /api/v1/sessions answered {listed.status_code} "
                f"{listed.text[:200]}"
            )
        one = await client.get(paths("get_session", sessions)[0])
        if one.status_code != 200 or one.json()["session"]["session_id"] != runner_id(1):
            raise RuntimeError(
                f"{server.name}: GET one session answered {one.status_code} {one.text[:200]}"
            )


async def measure(server: Server, context: RunContext) -> dict[str, dict[str, Any]]:
    plan = context.plan
    await check_answers(server, plan.http_sessions)
    figures = {}
    for route in ROUTES:
        log.info("http: %s, %s for %.0f s", server.name, ROUTES[route], plan.http_seconds)
        figures[route] = await load(
            server.base_url, paths(route, plan.http_sessions), clients=plan.http_clients,
            seconds=plan.http_seconds, drain_seconds=plan.http_drain_seconds,
        )
    return figures


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    for index in range(1, plan.http_sessions + 1):
        await create_runner_with_session(
            runner_name(index), f"Session {index} of the HTTP case", SESSION_ENDPOINTS, {},
            workspace=WORKSPACE,
        )
    try:
        async with serve(
            context.sparring, context.work_dir, timeout_s=plan.child_timeout_s
        ) as server:
            ours = await measure(server, context)
    finally:
        for index in range(1, plan.http_sessions + 1):
            await delete_runner(runner_id(index), workspace=WORKSPACE)
    theirs = None
    if context.moonshot is not None:
        data = context.moonshot.fresh_data("http")
        await context.moonshot.run_case("populate", {"count": plan.http_sessions}, data)
        async with context.moonshot.web_api(data) as server:
            theirs = await measure(server, context)
    result = CaseResult()
    for route, label in ROUTES.items():
        result.figures.append(
            rated(
                CASE, route, f"{label}, {plan.http_clients} clients, {plan.http_seconds:.0f} s",
                f"N={plan.http_sessions}", "req/s", ours[route],
                None if theirs is None else theirs[route],
            )
        )
    return result
