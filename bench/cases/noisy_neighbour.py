"""Noisy neighbour (Sparring only): one workspace floods, another's echo prompt keeps its pace.

Workspace A sends many prompts without waiting to sessions of slow endpoints (the fake OpenAI
server, a fixed latency), more tasks than the task slots; workspace B meanwhile prompts its echo
endpoint one prompt at a time. Run on the in-process task queue `sparring serve` uses, with few
slots, once in fair turns (as queued by the service) and once first come first served (the
same tasks queued without their workspace and session: one queue, the order before fair share).
Reported: B's prompt times when quiet and during each flood (p95 and max in the notes), and the
flood's wall time.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from bench.context import RunContext, log
from bench.figures import CaseResult, Figure, timed
from bench.timing import percentile
from service.api.endpoints import api_create_endpoint
from service.api.prompting import Enqueue, api_send_prompt, create_batch, wait_for_batch
from service.api.sessions.runners import create_runner_with_session
from service.settings import Settings
from service.tokens import TokenCipher
from service.workers.queue import TaskQueue
from service.workers.tasks import RUN_PROMPT_TASK
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI

CASE = "noisy_neighbour"
FLOOD_WORKSPACE = "bench-noisy-a"
QUIET_WORKSPACE = "bench-noisy-b"
MODEL = "bench-noisy"
SECRET = "sparring-bench-noisy-neighbour"
PROMPT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Sizes:
    slots: int
    endpoints: int
    sessions: int
    prompts: int
    latency_s: float
    quiet_prompts: int


# Long calls on few slots, so that the flood waits on slots rather than on the CPU. Quick: 60
# tasks of 2 s on 10 slots, a 12 s flood per order; the whole case in about 45 s.
SIZES = {
    "tiny": Sizes(slots=2, endpoints=3, sessions=2, prompts=4, latency_s=0.05, quiet_prompts=5),
    "quick": Sizes(slots=10, endpoints=6, sessions=3, prompts=10, latency_s=2.0,
                   quiet_prompts=10),
    "full": Sizes(slots=100, endpoints=10, sessions=10, prompts=50, latency_s=2.0,
                  quiet_prompts=50),
}


@dataclass
class Run:
    quiet: list[float]
    during: list[float]
    flood_s: float


async def _setup(sizes: Sizes, fake: FakeOpenAI, tag: str) -> tuple[list[str], str]:
    """A's sessions of slow endpoints and B's echo session, fresh for run `tag`."""
    cipher = TokenCipher(SECRET.encode())
    endpoints = []
    for number in range(sizes.endpoints):
        endpoint = await api_create_endpoint(
            f"noisy {tag} {number:02d}", "openai-connector", fake.base_url, VALID_TOKEN,
            100_000, 1_000, MODEL, {"timeout": PROMPT_TIMEOUT_S, "max_attempts": 1},
            workspace=FLOOD_WORKSPACE, cipher=cipher,
        )
        endpoints.append(endpoint)
    sessions = []
    for number in range(sizes.sessions):
        runner, _ = await create_runner_with_session(
            f"noisy {tag} flood {number}", "", endpoints, {}, workspace=FLOOD_WORKSPACE
        )
        sessions.append(runner.id)
    echo = await api_create_endpoint(
        f"noisy {tag} echo", "echo", "", "", 100_000, 1_000, "", {},
        workspace=QUIET_WORKSPACE, cipher=cipher,
    )
    quiet, _ = await create_runner_with_session(
        f"noisy {tag} quiet", "", [echo], {},
        workspace=QUIET_WORKSPACE,
    )
    return sessions, quiet.id


async def _quiet_prompts(enqueue: Enqueue, session: str, count: int) -> list[float]:
    samples = []
    for number in range(count):
        began = time.perf_counter()
        result = await api_send_prompt(
            session, f"Ping {number}", 0, enqueue=enqueue, wait_s=PROMPT_TIMEOUT_S,
            workspace=QUIET_WORKSPACE,
        )
        if not result.finished:
            raise RuntimeError(f"B's prompt {number} did not finish in {PROMPT_TIMEOUT_S} s.")
        samples.append(time.perf_counter() - began)
    return samples


async def _run(context: RunContext, sizes: Sizes, fake: FakeOpenAI, *, fair: bool) -> Run:
    tag = "fair" if fair else "fifo"
    settings = Settings(
        data_dir=context.work_dir / "noisy-neighbour", secret_key=SecretStr(SECRET),
        worker_max_tasks=sizes.slots,
    )
    queue = TaskQueue(settings)
    task = queue.broker.find_task(RUN_PROMPT_TASK)
    if task is None:
        raise RuntimeError("The broker has no prompt task registered.")

    async def unlabelled(
        task_ids: Sequence[str], place: tuple[str, str] | None = None
    ) -> None:
        # Without workspace and session (`place` is ignored on purpose), every task shares one
        # queue: first come first served.
        for task_id in task_ids:
            await task.kiq(task_id)

    enqueue: Enqueue = queue.enqueue if fair else unlabelled
    await queue.start()
    try:
        sessions, quiet_session = await _setup(sizes, fake, tag)
        quiet = await _quiet_prompts(enqueue, quiet_session, sizes.quiet_prompts)
        began = time.perf_counter()
        batches = []
        for number in range(sizes.prompts):
            session = sessions[number % len(sessions)]
            batch_id, task_ids = await create_batch(
                session, f"Flood {number}", 0, workspace=FLOOD_WORKSPACE
            )
            await enqueue(task_ids)
            batches.append((session, batch_id))
        during = await _quiet_prompts(enqueue, quiet_session, sizes.quiet_prompts)
        await queue.wait_idle()
        flood_s = time.perf_counter() - began
        for session, batch_id in batches:
            result = await wait_for_batch(session, batch_id, 0, workspace=FLOOD_WORKSPACE)
            if not result.finished:
                raise RuntimeError(f"Flood batch {batch_id} did not finish.")
    finally:
        await queue.stop()
    return Run(quiet=quiet, during=during, flood_s=flood_s)


def _spread(samples: list[float]) -> str:
    return (f"p50 {percentile(samples, 0.5) * 1000:.0f} ms, p95 "
            f"{percentile(samples, 0.95) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms")


def _figures(sizes: Sizes, runs: dict[str, Run]) -> list[Figure]:
    flood = (f"A: {sizes.prompts} prompts x {sizes.endpoints} endpoints of "
             f"{sizes.latency_s * 1000:.0f} ms on {sizes.slots} slots")
    figures = [timed(CASE, "quiet", "B's echo prompt, no flood", f"slots={sizes.slots}",
                     runs["fair"].quiet, None, note=_spread(runs["fair"].quiet))]
    for name, run in runs.items():
        order = "fair turns" if name == "fair" else "first come first served"
        figures.append(timed(
            CASE, f"during-{name}", f"B's echo prompt during A's flood ({order})",
            f"slots={sizes.slots}", run.during, None, note=f"{_spread(run.during)}; {flood}",
        ))
        figures.append(timed(
            CASE, f"flood-{name}", f"A's flood, wall time ({order})", f"slots={sizes.slots}",
            [run.flood_s], None, note=flood,
        ))
    return figures


async def run(context: RunContext) -> CaseResult:
    sizes = SIZES[context.plan.mode]
    fake = FakeOpenAI(behaviours={MODEL: Behaviour(latency_s=sizes.latency_s)}).start()
    try:
        runs = {}
        for fair in (True, False):
            log.info("noisy_neighbour: %s run", "fair" if fair else "fifo")
            runs["fair" if fair else "fifo"] = await _run(context, sizes, fake, fair=fair)
    finally:
        fake.stop()
    return CaseResult(figures=_figures(sizes, runs))
