"""An editor's prompt template cannot freeze or bloat the server: limits stop the work elsewhere.

Bob (editor) sends each abusive template over real HTTP while a probe keeps asking `/health`;
every answer must come back within 200 ms (a wide margin: a blocked event loop takes seconds),
the template must be refused naming the limit it broke, and the server process (this test
process serves the app) must not grow by 300 MB.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.redteam.records import ERROR_PREFIX
from tests.security.conftest import World

# Well under the 1 s a render may spin: a server blocked by one would answer after it.
HEALTH_WITHIN_S = 0.75
MAX_GROWTH_KIB = 300 * 1024
PROBE_INTERVAL_S = 0.02

# (template, the limit its refusal names)
ABUSE = [
    pytest.param("{{ 'a' * 10**9 }}{{ prompt }}", "string size limit", id="gigabyte-constant"),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(1500) %}{% endfor %}{% endfor %}"
        "{{ prompt }}",
        "loop limit",
        id="two-nested-loops",
    ),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
        "{% endfor %}{% endfor %}{% endfor %}{{ prompt }}",
        "loop limit",
        id="three-nested-loops",
    ),
    pytest.param(
        "{% for i in range(100000000) %}{% endfor %}{{ prompt }}", "loop limit", id="huge-range"
    ),
    pytest.param(
        "{{ prompt }}{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
        "output size limit",
        id="big-output",
    ),
    # No range and no operator: only the clock stops two loops over a long string.
    pytest.param(
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
        "{{ prompt }}",
        "time limit",
        id="loops-over-a-string",
    ),
    # One method call asking for 40 GB: only the worker's memory limit stops it.
    pytest.param(
        "{% set s = 'x' * 200000 %}{{ s.replace('x', s) }}{{ prompt }}",
        "memory limit",
        id="replace-bomb",
    ),
]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> int:
    """Reset this process's peak RSS to its current RSS (Linux), and return that in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


@contextlib.asynccontextmanager
async def health_probe(url: str) -> AsyncIterator[list[float]]:
    """Ask `/health` over and over until the block ends; yields the list of answer times."""
    latencies: list[float] = []
    stop = asyncio.Event()
    answered = asyncio.Event()

    async def probe(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.get("/health")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            answered.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_INTERVAL_S)

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        task = asyncio.create_task(probe(client))
        await answered.wait()
        try:
            yield latencies
        finally:
            stop.set()
            await task


@pytest.mark.parametrize(("template", "limit"), ABUSE)
async def test_an_abusive_template_is_refused_while_the_server_answers(
    world: World, template: str, limit: str
):
    rss_before = reset_peak_rss()
    async with world.client(world.bob) as bob, health_probe(world.url) as latencies:
        response = await bob.post(
            "/api/v1/prompt-templates", json={"name": "abuse", "template": template}
        )
    assert response.status_code == 422, response.text
    assert limit in response.text
    assert latencies and max(latencies) < HEALTH_WITHIN_S, latencies
    assert _status_kib("VmHWM") - rss_before < MAX_GROWTH_KIB
    async with world.client(world.bob) as bob:
        names = (await bob.get("/api/v1/prompt-templates/name")).json()
    assert "abuse" not in names


async def test_a_limit_reached_only_with_a_long_prompt_is_an_error_record(world: World):
    square = (
        "{% for i in range(prompt|length) %}{% for j in range(prompt|length) %}x{% endfor %}"
        "{% endfor %}"
    )
    async with world.client(world.bob) as bob:
        created = await bob.post(
            "/api/v1/llm-endpoints", json={"name": "echo-a", "connector_type": "echo"}
        )
        assert created.status_code == 200, created.text
        # A short sample prompt stays far inside every limit, so creation cannot see it.
        template = await bob.post(
            "/api/v1/prompt-templates", json={"name": "square", "template": square}
        )
        assert template.status_code == 201, template.text
        session = await bob.post(
            "/api/v1/sessions",
            json={"name": "Squares", "endpoints": ["echo-a"], "prompt_template": "square"},
        )
        assert session.status_code == 200, session.text
        rss_before = reset_peak_rss()
        async with health_probe(world.url) as latencies:
            # 2,000 × 2,000 characters: far over the output limit.
            answer = await bob.post(
                "/api/v1/sessions/squares/prompt", json={"user_prompt": "p" * 2000}
            )
        assert answer.status_code == 200, answer.text
        (record,) = answer.json()["current_chats"]["echo-a"]
        assert record["predicted_result"].startswith(f"{ERROR_PREFIX}prompt template square:")
        assert "output size limit" in record["predicted_result"]
        assert latencies and max(latencies) < HEALTH_WITHIN_S, latencies
        assert _status_kib("VmHWM") - rss_before < MAX_GROWTH_KIB

        # Normal prompts still render through the same template afterwards.
        small = await bob.post("/api/v1/sessions/squares/prompt", json={"user_prompt": "ab"})
        (record,) = small.json()["current_chats"]["echo-a"]
        assert record["predicted_result"] == "xxxx"
