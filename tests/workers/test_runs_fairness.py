"""Many red-teaming runs at once share the workers fairly and every endpoint's limit holds.

Twenty runs over the same five endpoints start together; one endpoint allows two calls at
once. On a real server each run has fifty `charswap_attack` prompts, the issue's case (5,000
calls); the in-memory tier, whose fake reads every document of a collection on each query, runs
the same test with ten (the same shape, a fifth of the time). Each run stores half of its
prompts with its first step, so the first steps alone queue half of all the work: first come,
first served would answer the last run only after the others' halves (past the first quarter of
the time). Slots go round robin over sessions, so every run has answers early.
"""

import asyncio
import time

from models import PromptTask, RunStatus, TaskStatus
from models.batches import UNFINISHED_TASK
from service.api import api_get_all_chats_from_session
from service.api.registries import configure_entry
from service.api.runs import RunView, get_run, start_run
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI

RUNS = 20
PROMPTS = {"server": 50, "memory": 10}
WIDE = ("wide-1", "wide-2", "wide-3", "wide-4")
NARROW = "narrow"
NARROW_CONCURRENCY = 2
WIDE_LATENCY_S = 0.02
# The narrow endpoint bounds the whole: RUNS * PROMPTS calls, two at a time.
NARROW_LATENCY_S = 0.01
SEED_PROMPT = "Describe the safety procedures for handling dangerous laboratory chemicals"
# Slots of one process: the service's default.
WORKER_MAX_TASKS = 100
FIRST_QUARTER = 0.25


async def shared_endpoints(fake: FakeOpenAI, workspace: str = "default") -> list[str]:
    """Four endpoints that take any load and one that takes two calls at once, used by every
    run: the limit must hold across runs."""
    names = []
    for name in (*WIDE, NARROW):
        narrow = name == NARROW
        fake.behaviours[name] = Behaviour(latency_s=NARROW_LATENCY_S if narrow else WIDE_LATENCY_S)
        names.append(await create_endpoint(
            name, "openai-connector", uri=fake.base_url, token=VALID_TOKEN, model=name,
            # Retried like a real endpoint's: 100 calls connecting at once to a server that
            # shares this process's CPU may see a connect time out.
            params={"timeout": 60, "max_attempts": 3},
            max_concurrency=NARROW_CONCURRENCY if narrow else 100,
            workspace=workspace,
        ))
    return names


async def start_runs(endpoints: list[str], prompts: int) -> list[tuple[str, str]]:
    """RUNS sessions on the same endpoints, each with a run of `prompts` stored (nothing queued
    yet); half of each run's prompts are stored by its first step."""
    await configure_entry("attack-module", "charswap_attack", configurations={
        "max_iteration": prompts, "seed": 3, "parallel_prompts": prompts // 2,
    })
    started = []
    for number in range(RUNS):
        runner_id = await create_session(
            f"fair-{number:02d}", endpoints=endpoints,
            runner_args={"attack_module": "charswap_attack"},
        )
        run = await start_run(runner_id, SEED_PROMPT)
        started.append((runner_id, run.run_id))
    return started


async def kick_together(queue: TaskQueue, runs: list[tuple[str, str]]) -> float:
    """Queue every run's first step at once; returns when they were queued (epoch seconds)."""
    started_at = time.time()
    await asyncio.gather(*(queue.kick_run("default", runner, run) for runner, run in runs))
    return started_at


async def first_answers(runs: list[tuple[str, str]]) -> dict[str, float]:
    """Each run's first answered task's end (epoch seconds)."""
    firsts: dict[str, float] = {}
    for _, run_id in runs:
        task = await PromptTask.get_pymongo_collection().find_one(
            {"run_id": run_id, "status": TaskStatus.DONE.value, "error": ""},
            {"finished_at": 1}, sort=[("finished_at", 1)],
        )
        assert task is not None, f"run {run_id} answered nothing"
        firsts[run_id] = task["finished_at"]
    return firsts


async def assert_fair_and_complete(
    runs: list[tuple[str, str]], started_at: float, fake: FakeOpenAI, prompts: int
) -> dict[str, float]:
    """Every run done with every answer once; every run answered within the first quarter;
    the narrow endpoint never had more than its limit in flight. Returns each run's first
    answer as a share of the whole time (for the report)."""
    views: list[RunView] = [await get_run(runner, run) for runner, run in runs]
    failures = [
        (task["endpoint"], task["error"][:300])
        async for task in PromptTask.get_pymongo_collection().find(
            {"error": {"$ne": ""}}, {"endpoint": 1, "error": 1}
        )
    ]
    assert not failures, failures
    for view in views:
        assert view.status is RunStatus.DONE, (view.run_id, view.reason)
        assert view.totals.model_dump() == {
            "sent": prompts * 5, "answered": prompts * 5, "failed": 0, "successful": 0,
        }, view.run_id
    for runner, _ in runs:
        chats = await api_get_all_chats_from_session(runner)
        for endpoint, records in chats.items():
            ids = [record["chat_record_id"] for record in records]
            assert len(ids) == len(set(ids)) == prompts, (runner, endpoint)
    assert await PromptTask.get_pymongo_collection().count_documents(
        {"status": {"$in": [status.value for status in UNFINISHED_TASK]}}
    ) == 0
    ended_at = max(view.ended_at or 0.0 for view in views)
    whole_s = ended_at - started_at
    shares = {
        run_id: (first - started_at) / whole_s
        for run_id, first in (await first_answers(runs)).items()
    }
    late = {run_id: share for run_id, share in shares.items() if share >= FIRST_QUARTER}
    assert not late, (
        f"runs without an answer in the first quarter of {whole_s:.1f} s: {late}; "
        f"every run's first answer at: {sorted(round(share, 3) for share in shares.values())}"
    )
    # Never above the limit, and the limit was used: the endpoint was saturated throughout.
    assert fake.max_in_flight[NARROW] == NARROW_CONCURRENCY
    assert len(fake.calls_for(NARROW)) == RUNS * prompts
    return shares


async def test_twenty_runs_in_process_share_the_slots_and_the_limit(
    db, tier, settings, fake_openai
):
    prompts = PROMPTS[tier]
    queue = TaskQueue(settings.model_copy(update={"worker_max_tasks": WORKER_MAX_TASKS}))
    await queue.start()
    try:
        endpoints = await shared_endpoints(fake_openai)
        runs = await start_runs(endpoints, prompts)
        started_at = await kick_together(queue, runs)
        async with asyncio.timeout(600):
            await queue.wait_idle()
    finally:
        await queue.stop()
    await assert_fair_and_complete(runs, started_at, fake_openai, prompts)
