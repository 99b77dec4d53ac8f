"""`python -m bench`: run every case on both systems and write the JSON, table and plots."""

import argparse
import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo.errors import PyMongoError

from bench import machine, plots, report
from bench.cases import (
    appends,
    chats,
    fanout,
    http,
    idle_streams,
    imports,
    noisy_neighbour,
    redteam,
    sessions,
    users,
)
from bench.context import RunContext, log
from bench.figures import CaseResult, Figure
from bench.floor import apply_floor, measure_floor
from bench.moonshot.driver import MoonshotDriver, MoonshotError
from bench.moonshot.venv import HOME, ensure_venv
from bench.plan import PLANS
from bench.processes import ServerError
from bench.profiles import profile_case
from bench.sparring import open_sparring
from bench.targets import check_all
from service.api.context import require_database

RESULTS = Path(__file__).resolve().parent / "results"
# The collection holding most of what each case's operations touch, where its floor is measured.
FLOOR_COLLECTIONS = {
    "chats": "chat_buckets", "appends": "chat_buckets", "fanout": "chat_buckets",
    "redteam": "prompt_tasks",
}
CASES: dict[str, Callable[[RunContext], Awaitable[CaseResult]]] = {
    "sessions": sessions.run,
    "chats": chats.run,
    "appends": appends.run,
    "http": http.run,
    "users": users.run,
    "fanout": fanout.run,
    "idle_streams": idle_streams.run,
    "noisy_neighbour": noisy_neighbour.run,
    "import": imports.run,
    "redteam": redteam.run,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Sparring against Moonshot 0.7.6, side by side: JSON, Markdown table, plots.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_const", const="full", dest="mode",
                      help="the large sizes (a 1,000,000-record fill, longer load tests)")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="mode",
                      help="tiny sizes, for the smoke test")
    parser.set_defaults(mode="quick")
    parser.add_argument("--sparring-only", action="store_true",
                        help="measure Sparring alone (no Moonshot virtualenv needed)")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--profile", action="store_true",
                        help="sample every process with py-spy during each case and write "
                             "profiles/<case>.md (sampling slows the run: take figures from a "
                             "run without it)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where results go (default: bench/results/<time>)")
    parser.add_argument("--mongodb-uri", default=None,
                        help="MongoDB for Sparring (default: SPARRING_MONGODB_URI, else embedded)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="scratch space for databases (default: a temporary folder)")
    parser.add_argument("--wheel-cache", type=Path, default=None,
                        help="a folder of wheels for building Moonshot's virtualenv offline")
    parser.add_argument("--moonshot-home", type=Path, default=HOME,
                        help="where Moonshot's virtualenv lives (default: bench/.moonshot)")
    arguments = parser.parse_args(argv)
    unknown = set(arguments.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    return arguments


async def run(arguments: argparse.Namespace) -> tuple[Path, bool]:
    """Run the chosen cases; returns where the results are and whether every case ran."""
    plan = PLANS[arguments.mode]
    started = time.perf_counter()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = arguments.out or RESULTS / f"{stamp}-{plan.mode}"
    work_dir = arguments.work_dir or Path(tempfile.mkdtemp(prefix="sparring-bench-"))
    moonshot = None
    if not arguments.sparring_only:
        python = ensure_venv(arguments.moonshot_home, wheel_cache=arguments.wheel_cache)
        moonshot = MoonshotDriver(python=python, work_dir=work_dir, timeout_s=plan.child_timeout_s)
    description = machine.describe()
    figures: list[Figure] = []
    series: dict[str, Any] = {}
    notes: list[str] = []
    failed: list[str] = []
    try:
        async with open_sparring(work_dir, arguments.mongodb_uri) as database:
            context = RunContext(plan=plan, sparring=database, moonshot=moonshot, work_dir=work_dir)
            for name in arguments.cases.split(","):
                case_started = time.perf_counter()
                try:
                    async with _profiled(arguments.profile, name, out_dir, notes):
                        result = await CASES[name](context)
                except (
                    MoonshotError, ServerError, httpx.HTTPError, imports.ImportMismatch,
                    redteam.RunFailed,
                ) as error:
                    # One broken case should not cost the figures of the others.
                    log.exception("%s: failed", name)
                    failed.append(f"{name}: failed ({type(error).__name__}: {error})")
                    continue
                log.info("%s: done in %.1f s", name, time.perf_counter() - case_started)
                # Right after the case, on its data: the server's floor at that size.
                try:
                    floor = await measure_floor(
                        require_database().database, FLOOR_COLLECTIONS.get(name, "sessions")
                    )
                except PyMongoError as error:
                    # The case's figures stand without it; say why the column is empty.
                    notes.append(f"{name}: floor not measured ({type(error).__name__})")
                else:
                    apply_floor(result.figures, floor)
                    series.setdefault("floors", {})[name] = floor.to_dict()
                figures += result.figures
                series.update(result.series)
                notes += result.notes
            database_description = database.description
    finally:
        if arguments.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    checks = check_all(figures, plan.session_levels)
    run_info = {
        "mode": plan.mode,
        "started": stamp,
        "duration_s": time.perf_counter() - started,
        "machine": description,
        "load_average_at_end": machine.describe()["load_average"],
        "database": database_description,
        "moonshot": None if moonshot is None else "aiverify-moonshot 0.7.6 (its own virtualenv)",
        "cases": arguments.cases.split(","),
        "failed": failed,
    }
    notes += failed + _plot(out_dir, series, figures)
    json_path, markdown_path = report.write(out_dir, figures, checks, run_info, series, notes)
    log.info("Wrote %s and %s", json_path, markdown_path)
    return out_dir, not failed


@asynccontextmanager
async def _profiled(
    wanted: bool, case: str, out_dir: Path, notes: list[str]
) -> AsyncIterator[None]:
    """`profile_case` when `--profile` asked for it; says in `notes` where the profile is."""
    if not wanted:
        yield
        return
    async with profile_case(case, out_dir) as profiled:
        yield
    notes.append(
        profiled.problem or f"{case}: where each process's CPU went, in {case}.md under profiles/"
    )


def _plot(out_dir: Path, series: dict[str, Any], figures: list[Figure]) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        if "cost_per_call" in series:
            plots.cost_per_call(series["cost_per_call"], out_dir / "cost_per_call.png")
        if "fill" in series:
            moonshot_rate = next(
                (f.moonshot["per_s"] for f in figures
                 if f.key.startswith("appends.batched.") and f.moonshot),
                None,
            )
            plots.fill_rate(series["fill"], out_dir / "append_rate.png", moonshot_rate)
    except plots.PlotsUnavailable as error:
        return [str(error)]
    return []


def main(argv: list[str] | None = None) -> int:
    arguments = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # The driver's own chatter would drown the progress lines.
    for noisy in ("pymongo", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out_dir, complete = asyncio.run(run(arguments))
    log.info("Table: %s", out_dir / "results.md")
    return 0 if complete else 1
