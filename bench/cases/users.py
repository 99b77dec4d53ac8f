"""Many users: clients each prompting its own session at once through the HTTP API (echo connector).

Every client does what Moonshot's web client does: open its session (`GET`), then prompt it.
Moonshot's web API keeps one active session per process; what it answers is recorded as it is.
Afterwards every session is read back: it must hold exactly what its user was told was written.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from bench.context import RunContext, log
from bench.figures import CaseResult, Figure
from bench.processes import Server
from bench.sparring import serve
from bench.timing import percentile
from bench.workload import ENDPOINT

CASE = "users"
PROMPT_TIMEOUT_S = 120.0
ECHO_ENDPOINT = {
    "name": ENDPOINT, "connector_type": "echo", "uri": "", "token": "",
    "max_calls_per_second": 100_000, "max_concurrency": 1_000, "model": "", "params": {},
}


def user_id(number: int) -> str:
    return f"bench-user-{number:03d}"


def user_prompt(number: int) -> str:
    return f"User {number} asks: is this answer safe?"


@dataclass(frozen=True)
class Outcome:
    status: int
    detail: str
    seconds: float
    # The answer carried this user's own prompt, echoed by the endpoint.
    answered: bool


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


async def create_sessions(client: httpx.AsyncClient, users: int) -> None:
    for number in range(1, users + 1):
        created = await client.post(
            "/api/v1/sessions", json={"name": f"Bench User {number:03d}", "endpoints": [ENDPOINT]}
        )
        if created.status_code != 200:
            raise RuntimeError(
                f"Creating session {number} answered {created.status_code}: {created.text[:200]}"
            )


async def one_user(client: httpx.AsyncClient, number: int, start: asyncio.Event) -> Outcome:
    await start.wait()
    began = time.perf_counter()
    try:
        opened = await client.get(f"/api/v1/sessions/{user_id(number)}")
        if opened.status_code != 200:
            return Outcome(opened.status_code, _detail(opened), time.perf_counter() - began, False)
        answer = await client.post(
            f"/api/v1/sessions/{user_id(number)}/prompt",
            json={"user_prompt": user_prompt(number), "history_length": 10},
        )
    except httpx.HTTPError as error:
        return Outcome(0, type(error).__name__, time.perf_counter() - began, False)
    seconds = time.perf_counter() - began
    answered = answer.status_code == 200 and any(
        record["prompt"] == user_prompt(number)
        for record in answer.json().get("current_chats", {}).get(ENDPOINT, [])
    )
    return Outcome(answer.status_code, _detail(answer), seconds, answered)


async def read_back(client: httpx.AsyncClient, number: int, answered: bool) -> bool:
    """Whether the session holds exactly the one record its user was told of (none if not)."""
    stored = await client.get(
        f"/api/v1/sessions/{user_id(number)}", params={"include_history": "true"}
    )
    if stored.status_code != 200:
        return False
    records = (stored.json().get("chat_records") or {}).get(ENDPOINT, [])
    written = [(record["prompt"], record["predicted_result"]) for record in records]
    return written == ([(user_prompt(number), user_prompt(number))] if answered else [])


async def measure(server: Server, users: int, *, register_endpoint: bool) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=users * 2, max_keepalive_connections=users * 2)
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=PROMPT_TIMEOUT_S, limits=limits
    ) as client:
        if register_endpoint:
            registered = await client.post("/api/v1/llm-endpoints", json=ECHO_ENDPOINT)
            if registered.status_code != 200:
                raise RuntimeError(f"Registering the echo endpoint: {registered.text[:200]}")
        await create_sessions(client, users)
        log.info("users: %s, %d users prompting at once", server.name, users)
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(one_user(client, number, start))
            for number in range(1, users + 1)
        ]
        began = time.perf_counter()
        start.set()
        outcomes = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        checked = [
            await read_back(client, number, outcome.answered)
            for number, outcome in enumerate(outcomes, start=1)
        ]
        for number in range(1, users + 1):
            await client.delete(f"/api/v1/sessions/{user_id(number)}")
    served = [outcome for outcome in outcomes if outcome.answered]
    failed = [outcome for outcome in outcomes if not outcome.answered]
    return {
        "users": users,
        "served": len(served),
        "errors": len(failed),
        "error_kinds": dict(
            Counter(f"HTTP {outcome.status}: {outcome.detail}" for outcome in failed)
        ),
        "read_back": sum(checked),
        "per_s": len(served) / wall if wall > 0 else 0.0,
        "wall_s": wall,
        "p50_ms": percentile([outcome.seconds for outcome in served], 0.5) * 1000,
        "p99_ms": percentile([outcome.seconds for outcome in served], 0.99) * 1000,
    }


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    async with serve(context.sparring, context.work_dir, timeout_s=plan.child_timeout_s) as server:
        ours = await measure(server, plan.users, register_endpoint=True)
    theirs = None
    if context.moonshot is not None:
        async with context.moonshot.web_api(context.moonshot.fresh_data("users")) as server:
            theirs = await measure(server, plan.users, register_endpoint=False)
    size = f"users={plan.users}"
    result = CaseResult(
        figures=[
            Figure(
                key=f"{CASE}.prompt.{size}", case=CASE,
                measure="users prompting their own sessions at once", size=size,
                unit="users served", sparring=ours, moonshot=theirs,
                advantage=(
                    ours["served"] / theirs["served"] if theirs and theirs["served"] else None
                ),
                note="each opens its session, then prompts it; every session is read back after",
            )
        ]
    )
    for side, outcome in (("Sparring", ours), ("Moonshot", theirs)):
        if outcome and outcome["error_kinds"]:
            answers = "; ".join(
                f"{count}× {kind}" for kind, count in outcome["error_kinds"].items()
            )
            result.notes.append(f"users: {side} answered {answers}")
    return result
