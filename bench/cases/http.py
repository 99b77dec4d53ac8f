"""HTTP case: both web APIs under uvicorn on 127.0.0.1, concurrent clients for a bounded time,
on `GET /api/v1/sessions` (N sessions) and `GET /api/v1/sessions/{id}?include_history=false`.
"""

from typing import Any

import httpx

from bench.commands import Counted, commands_per_request
from bench.context import RunContext, log
from bench.figures import CaseResult, rated, timed
from bench.load import load
from bench.processes import Server
from bench.sparring import serve
from bench.timing import measure_async
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


# Requests sent one at a time to count the commands of each route on Sparring's server.
COUNTED_REQUESTS = 20


async def count_commands(server: Server, sessions: int) -> dict[str, Counted | None]:
    """Commands Sparring's server sends per request of each route, and per conditional
    `GET /api/v1/sessions` that its ETag answers 304."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as client:
        counted: dict[str, Counted | None] = {}
        for route in ROUTES:
            path = paths(route, sessions)[0]

            async def get(path: str = path) -> None:
                await _ok(client.get(path))

            counted[route] = await commands_per_request(client, get, COUNTED_REQUESTS)
        return counted


async def _ok(request: Any) -> None:
    answer = await request
    if answer.status_code not in (200, 304):
        raise RuntimeError(f"Sparring answered {answer.status_code}: {answer.text[:200]}")


async def conditional_list(server: Server, bound: Any) -> tuple[list[float], Counted | None]:
    """`GET /api/v1/sessions` with the ETag of the listing: times and commands per request."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as client:
        tag = (await client.get("/api/v1/sessions")).headers.get("etag")
        if tag is None:
            # A server without listing ETags: nothing to measure.
            return [], None

        async def unchanged(i: int = 0) -> None:
            answer = await client.get("/api/v1/sessions", headers={"If-None-Match": tag})
            if answer.status_code != 304:
                raise RuntimeError(f"A matching If-None-Match answered {answer.status_code}.")

        samples = await measure_async(unchanged, bound)
        return samples, await commands_per_request(client, unchanged, COUNTED_REQUESTS)


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
            commands = await count_commands(server, plan.http_sessions)
            not_modified, not_modified_commands = await conditional_list(server, plan.calls)
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
                None if theirs is None else theirs[route], commands=commands[route],
            )
        )
    result.figures.append(
        timed(
            CASE, "list_sessions_not_modified",
            "GET /api/v1/sessions with a matching If-None-Match (304), one client",
            f"N={plan.http_sessions}", not_modified, None, commands=not_modified_commands,
        )
    )
    return result
