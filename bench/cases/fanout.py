"""Fan-out (Sparring only): wall time of one prompt to 10 endpoints of 200 ms each, against one.

The endpoints are OpenAI-compatible, served by the fake OpenAI server with a fixed latency.
"""

import time

import httpx

from bench.commands import Counted, counted_between, server_commands
from bench.context import RunContext, log
from bench.figures import CaseResult, timed
from bench.processes import Server
from bench.sparring import serve
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI

CASE = "fanout"
MODEL = "bench-latency"
PROMPT_TIMEOUT_S = 120.0


def endpoint_body(number: int, base_url: str) -> dict:
    return {
        "name": f"fanout-{number:02d}", "connector_type": "openai-connector", "uri": base_url,
        "token": VALID_TOKEN, "max_calls_per_second": 100_000, "max_concurrency": 1_000,
        "model": MODEL, "params": {},
    }


async def prompt_times(
    client: httpx.AsyncClient, session: str, endpoints: list[str], repeats: int
) -> list[float]:
    """Wall time of each prompt, after one untimed warm-up; every answer must be in."""
    samples = []
    for repeat in range(repeats + 1):
        began = time.perf_counter()
        answer = await client.post(
            f"/api/v1/sessions/{session}/prompt", json={"user_prompt": f"Fan-out {repeat}"}
        )
        elapsed = time.perf_counter() - began
        chats = answer.json().get("current_chats", {}) if answer.status_code == 200 else {}
        if sorted(chats) != sorted(endpoints) or any(len(chats[e]) != 1 for e in endpoints):
            raise RuntimeError(
                f"Prompting {session} answered {answer.status_code}: {answer.text[:300]}"
            )
        if repeat:
            samples.append(elapsed)
    return samples


async def measure(
    server: Server, context: RunContext, fake: FakeOpenAI
) -> tuple[dict[str, list[float]], int, dict[str, Counted | None]]:
    """Wall times of prompts to one and to all endpoints, the most calls seen at once, and
    the commands the server sent per prompt (counted on the server, its background included)."""
    plan = context.plan
    async with httpx.AsyncClient(base_url=server.base_url, timeout=PROMPT_TIMEOUT_S) as client:
        endpoints = []
        for number in range(1, plan.fanout_endpoints + 1):
            created = await client.post(
                "/api/v1/llm-endpoints", json=endpoint_body(number, fake.base_url)
            )
            if created.status_code != 200:
                raise RuntimeError(f"Registering endpoint {number}: {created.text[:200]}")
            endpoints.append(created.json()["id"])
        # Many first, so that the fake server's peak of calls in flight is that of the fan-out.
        sessions = {"many": endpoints, "one": endpoints[:1]}
        for name, used in sessions.items():
            created = await client.post(
                "/api/v1/sessions", json={"name": f"Bench Fanout {name}", "endpoints": used}
            )
            if created.status_code != 200:
                raise RuntimeError(f"Creating the {name} session: {created.text[:200]}")
        samples = {}
        commands: dict[str, Counted | None] = {}
        for name, used in sessions.items():
            before = await server_commands(client)
            samples[name] = await prompt_times(
                client, f"bench-fanout-{name}", used, plan.fanout_repeats
            )
            # The untimed warm-up prompt is counted too.
            commands[name] = counted_between(
                before, await server_commands(client), plan.fanout_repeats + 1
            )
            if name == "many":
                peak = fake.max_in_flight.get(MODEL, 0)
        for name in sessions:
            await client.delete(f"/api/v1/sessions/bench-fanout-{name}")
    return samples, peak, commands


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    fake = FakeOpenAI(behaviours={MODEL: Behaviour(latency_s=plan.fanout_latency_s)}).start()
    try:
        async with serve(
            context.sparring, context.work_dir, timeout_s=plan.child_timeout_s
        ) as server:
            log.info(
                "fanout: %d endpoints of %.0f ms", plan.fanout_endpoints,
                plan.fanout_latency_s * 1000,
            )
            samples, peak, commands = await measure(server, context, fake)
    finally:
        fake.stop()
    latency = f"endpoints answer in {plan.fanout_latency_s * 1000:.0f} ms"
    return CaseResult(
        figures=[
            timed(CASE, "one", "prompt one endpoint (POST .../prompt, waits for answers)",
                  "endpoints=1", samples["one"], None, note=latency, commands=commands["one"]),
            timed(CASE, "many", f"prompt {plan.fanout_endpoints} endpoints at once",
                  f"endpoints={plan.fanout_endpoints}", samples["many"], None,
                  note=f"{latency}; at most {peak} calls were in flight at once",
                  commands=commands["many"]),
        ]
    )
