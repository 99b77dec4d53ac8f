"""Idle live streams (Sparring only): what 200 open `GET .../events` streams cost while nothing
happens (the server process's CPU, the database's operations per second), and a two-endpoint
echo prompt's latency without and with them.

Run it by name: `python -m bench --sparring-only --cases idle_streams`.
"""

import asyncio
import os
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from bench.context import RunContext, log
from bench.figures import CaseResult, timed
from bench.processes import Server
from bench.sparring import serve

CASE = "idle_streams"
PROMPT_TIMEOUT_S = 60.0
SESSION = "bench-idle-streams"
# Streams held open, seconds of idleness measured, prompts timed: by run size.
STREAMS = {"tiny": 20, "quick": 200, "full": 200}
IDLE_S = {"tiny": 1.0, "quick": 5.0, "full": 15.0}
PROMPTS = {"tiny": 3, "quick": 10, "full": 40}
OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")


def echo_endpoint(name: str) -> dict[str, Any]:
    return {
        "name": name, "connector_type": "echo", "uri": "", "token": "",
        "max_calls_per_second": 100_000, "max_concurrency": 1_000, "model": "", "params": {},
    }


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: utime and stime are fields 14 and 15 of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def database_operations(client: AsyncMongoClient) -> int | None:
    """All operations the database has served so far (serverStatus opcounters)."""
    try:
        status = await client.admin.command("serverStatus")
    except PyMongoError:
        return None
    counters = status.get("opcounters", {})
    return sum(int(counters.get(name, 0)) for name in OPCOUNTERS)


async def idle_costs(server: Server, database: AsyncMongoClient, seconds: float) -> dict:
    """The server's CPU (% of one core) and the database's operations per second, idle."""
    cpu_before, ops_before = cpu_seconds(server.pid), await database_operations(database)
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - began
    cpu_after, ops_after = cpu_seconds(server.pid), await database_operations(database)
    cpu = None
    if cpu_before is not None and cpu_after is not None:
        cpu = 100 * (cpu_after - cpu_before) / elapsed
    ops = None
    if ops_before is not None and ops_after is not None:
        # Less the serverStatus call of this measurement itself.
        ops = max(0, ops_after - ops_before - 1) / elapsed
    return {"cpu_percent": cpu, "db_ops_per_s": ops}


async def prompt_times(client: httpx.AsyncClient, count: int) -> list[float]:
    samples = []
    for number in range(count + 1):
        began = time.perf_counter()
        answer = await client.post(
            f"/api/v1/sessions/{SESSION}/prompt", json={"user_prompt": f"Idle {number}"}
        )
        elapsed = time.perf_counter() - began
        if answer.status_code != 200:
            raise RuntimeError(f"Prompting answered {answer.status_code}: {answer.text[:300]}")
        if number:
            samples.append(elapsed)
    return samples


async def open_streams(stack: AsyncExitStack, server: Server, count: int) -> None:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    client = await stack.enter_async_context(
        httpx.AsyncClient(base_url=server.base_url, timeout=PROMPT_TIMEOUT_S, limits=limits)
    )

    async def one() -> httpx.Response:
        return await stack.enter_async_context(
            client.stream("GET", f"/api/v1/sessions/{SESSION}/events")
        )

    for response in [await one() for _ in range(count)]:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"A stream answered {response.status_code}: {response.text}")


def described(costs: dict) -> str:
    cpu, ops = costs["cpu_percent"], costs["db_ops_per_s"]
    return (
        f"CPU {'n/a' if cpu is None else f'{cpu:.1f} %'}, "
        f"database {'n/a' if ops is None else f'{ops:.1f} ops/s'}"
    )


async def measure(server: Server, context: RunContext) -> CaseResult:
    mode = context.plan.mode
    streams, idle_s, prompts = STREAMS[mode], IDLE_S[mode], PROMPTS[mode]
    database: AsyncMongoClient = AsyncMongoClient(context.sparring.uri)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=PROMPT_TIMEOUT_S) as http:
            endpoints = []
            for name in ("Idle Echo A", "Idle Echo B"):
                created = await http.post("/api/v1/llm-endpoints", json=echo_endpoint(name))
                if created.status_code != 200:
                    raise RuntimeError(f"Registering {name}: {created.text[:200]}")
                endpoints.append(created.json()["id"])
            created = await http.post(
                "/api/v1/sessions", json={"name": "Bench Idle Streams", "endpoints": endpoints}
            )
            if created.status_code != 200:
                raise RuntimeError(f"Creating the session: {created.text[:200]}")
            quiet_prompts = await prompt_times(http, prompts)
            quiet = await idle_costs(server, database, idle_s)
            log.info("idle_streams: opening %d streams", streams)
            async with AsyncExitStack() as held:
                await open_streams(held, server, streams)
                busy = await idle_costs(server, database, idle_s)
                busy_prompts = await prompt_times(http, prompts)
            await http.delete(f"/api/v1/sessions/{SESSION}")
            for endpoint in endpoints:
                await http.delete(f"/api/v1/llm-endpoints/{endpoint}")
    finally:
        await database.close()
    idle_note = f"idle {idle_s:.0f} s"
    result = CaseResult(
        figures=[
            timed(CASE, "prompt_quiet", "two-endpoint echo prompt, no streams open",
                  "streams=0", quiet_prompts, None,
                  note=f"{idle_note} without streams: {described(quiet)}"),
            timed(CASE, "prompt_streams", f"two-endpoint echo prompt, {streams} streams open",
                  f"streams={streams}", busy_prompts, None,
                  note=f"{idle_note} with {streams} streams: {described(busy)}"),
        ],
        notes=[
            f"idle_streams: {idle_note} without streams: {described(quiet)}; "
            f"with {streams} streams: {described(busy)}."
        ],
    )
    result.series[CASE] = {"streams": streams, "without": quiet, "with": busy}
    return result


async def run(context: RunContext) -> CaseResult:
    async with serve(
        context.sparring, context.work_dir, timeout_s=context.plan.child_timeout_s
    ) as server:
        return await measure(server, context)
