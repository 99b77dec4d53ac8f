"""Appends case: a single append and batched appends on both systems, and (Sparring only) the
append rate while one session fills to 100,000 records (1,000,000 with --full).
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.cases.chats import page_cursor
from bench.commands import CommandCounter, Counted, Tally, counted_between, measure_counted
from bench.context import RunContext, log
from bench.figures import CaseResult, Figure, rate_of, rated, timed
from bench.floor import apply_floor, measure_floor
from bench.plan import Plan
from bench.records import read_page, records_for
from bench.timing import Bound, measure_async
from bench.workload import ENDPOINT, SESSION_ENDPOINTS
from models import ChatRecord
from service.api import (
    append_chat_record,
    append_chat_records,
    reserve_chat_record_id,
    reserve_chat_record_ids,
)
from service.api.context import require_database
from service.api.sessions.runners import create_runner_with_session

CASE = "appends"
WORKSPACE = "bench-appends"
# A page read that takes longer than this is reported as such rather than waited for.
PAGE_TIMEOUT_S = 120.0


async def _new_session(name: str) -> str:
    runner, _ = await create_runner_with_session(
        name, "", SESSION_ENDPOINTS, {}, workspace=WORKSPACE
    )
    return runner.id


async def _reserved_records(runner: str, count: int) -> list[ChatRecord]:
    return records_for(await reserve_chat_record_ids(runner, ENDPOINT, count, workspace=WORKSPACE))


async def _append(runner: str, record: ChatRecord) -> None:
    if not await append_chat_record(runner, ENDPOINT, record, workspace=WORKSPACE):
        raise RuntimeError(f"Record {record.chat_record_id} of {runner} was not stored.")


async def single_appends(
    count: int, counter: CommandCounter
) -> tuple[list[float], Counted | None]:
    """One append per record, ids reserved beforehand as a prompt's task reserves them; the
    times, and the commands each append sent."""
    runner = await _new_session("Bench Single Appends")
    records = await _reserved_records(runner, count)
    return await measure_counted(
        counter, lambda i: _append(runner, records[i]), Bound(count, float("inf"))
    )


async def reserve_and_append(
    count: int, counter: CommandCounter
) -> tuple[list[float], Counted | None]:
    """One reservation and one append per record: a prompt with one endpoint, end to end."""
    runner = await _new_session("Bench Reserve And Append")

    async def append(i: int) -> None:
        number = await reserve_chat_record_id(runner, ENDPOINT, workspace=WORKSPACE)
        await _append(runner, records_for([number])[0])

    return await measure_counted(counter, append, Bound(count, float("inf")))


async def batched_appends(count: int, batch: int) -> dict[str, Any]:
    """`count` records arriving `batch` at a time; each batch is one update per bucket."""
    runner = await _new_session(f"Bench Batches Of {batch}")
    records = await _reserved_records(runner, count)
    started = time.perf_counter()
    for start in range(0, count, batch):
        await append_chat_records(
            runner, ENDPOINT, records[start:start + batch], workspace=WORKSPACE
        )
    return rate_of(count, time.perf_counter() - started)


@dataclass
class Fill:
    runner: str
    # Each window: records stored at its end, its appends per second, single or batched.
    windows: list[dict[str, Any]] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    # Appends to an empty session, alternating with those of the last window: the same moment,
    # so a machine that got busier during the fill does not pass for a slower append.
    control: list[float] = field(default_factory=list)
    # Commands per append in the last window (its appends and the control's alike).
    last_commands: Counted | None = None

    @property
    def stored(self) -> int:
        return self.windows[-1]["stored"]


async def fill(plan: Plan, counter: CommandCounter) -> Fill:
    """Fill one session window by window; sampled windows append one record at a time.

    Stops early, ending with a sampled window, once `plan.child_timeout_s` has passed.
    """
    result = Fill(runner=await _new_session("Bench Fill"))
    control = await _new_session("Bench Fill Control")
    windows = plan.fill_records // plan.fill_window
    sampled = {
        round(i * (windows - 1) / (plan.fill_windows - 1)) for i in range(plan.fill_windows)
    }
    deadline = time.perf_counter() + plan.child_timeout_s
    for window in range(windows):
        last = window == windows - 1 or time.perf_counter() > deadline
        records = await _reserved_records(result.runner, plan.fill_window)
        started = time.perf_counter()
        if last:
            controls = await _reserved_records(control, plan.fill_window)
            before = counter.reading()
            for record, other in zip(records, controls, strict=True):
                began = time.perf_counter()
                await _append(result.runner, record)
                result.last.append(time.perf_counter() - began)
                began = time.perf_counter()
                await _append(control, other)
                result.control.append(time.perf_counter() - began)
            seconds = sum(result.last)
            result.last_commands = counted_between(before, counter.reading(), 2 * len(records))
        elif window in sampled:
            timings = await measure_async(
                lambda i, batch=records: _append(result.runner, batch[i]),
                Bound(len(records), float("inf")),
            )
            result.first = result.first or timings
            seconds = time.perf_counter() - started
        else:
            await append_chat_records(result.runner, ENDPOINT, records, workspace=WORKSPACE)
            seconds = time.perf_counter() - started
        result.windows.append({
            "stored": records[-1].chat_record_id,
            "per_s": len(records) / seconds,
            "mode": "batched" if window not in sampled and not last else "single",
        })
        if last:
            return result
    return result


async def _pages_side_by_side(
    runner: str, pages: dict[str, dict[str, Any]], plan: Plan, counter: CommandCounter
) -> dict[str, tuple[list[float], Counted | None]]:
    """Each page read in turn, call after call, so that all see the same moments of the server
    (read first after the fill, one alone would pay for the server's work on what the fill left),
    with the commands each sent."""
    samples: dict[str, list[float]] = {name: [] for name in pages}
    sent = {name: Tally() for name in pages}

    async def each_page(_: int) -> None:
        for name, where in pages.items():
            before = counter.reading()
            began = time.perf_counter()
            await asyncio.wait_for(
                read_page(runner, workspace=WORKSPACE, limit=plan.page_size, **where),
                PAGE_TIMEOUT_S,
            )
            samples[name].append(time.perf_counter() - began)
            sent[name].add(before, counter.reading())

    await measure_async(each_page, plan.calls)
    return {name: (samples[name], sent[name].counted(len(samples[name]))) for name in pages}


def _fill_figures(plan: Plan, filled: Fill) -> list[Figure]:
    size = f"K={filled.stored}"
    window = f"{plan.fill_window:,}"
    return [
        rated(CASE, "fill_first", f"first {window} appends of the fill, one by one", size,
              "records/s", rate_of(len(filled.first), sum(filled.first), filled.first), None),
        rated(CASE, "fill_last", f"last {window} appends of the fill, one by one", size,
              "records/s", rate_of(len(filled.last), sum(filled.last), filled.last), None,
              commands=filled.last_commands),
        rated(CASE, "fill_control",
              f"{window} appends to an empty session, alternating with the last {window}", size,
              "records/s", rate_of(len(filled.control), sum(filled.control), filled.control),
              None, commands=filled.last_commands),
    ]


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    result = CaseResult()
    log.info("appends: Sparring, %d single appends", plan.batch_records)
    single, single_commands = await single_appends(plan.batch_records, context.sparring.commands)
    reserved, reserved_commands = await reserve_and_append(
        plan.batch_records, context.sparring.commands
    )
    # Their floor now, before the fill grows the database (the run's own is taken after it).
    early_floor = await measure_floor(require_database().database, "chat_buckets")
    batched = {
        batch: await batched_appends(plan.batch_records, batch) for batch in plan.batch_sizes
    }
    theirs = None
    if context.moonshot is not None:
        log.info("appends: Moonshot, %d single appends", plan.batch_records)
        data = context.moonshot.fresh_data("appends")
        theirs = (
            await context.moonshot.run_case("appends", {"records": plan.batch_records}, data)
        )["append"]
    size = f"records={plan.batch_records}"
    singles = [
        timed(CASE, "single", "append one record (id reserved with its prompt)", size, single,
              theirs, commands=single_commands),
        timed(CASE, "reserve_and_append", "reserve an id, then append one record", size,
              reserved, theirs, commands=reserved_commands),
    ]
    apply_floor(singles, early_floor)
    result.figures += singles
    result.series["floors_before_fill"] = {CASE: early_floor.to_dict()}
    moonshot_rate = None if theirs is None else rate_of(len(theirs), sum(theirs), theirs)
    for batch, rate in batched.items():
        result.figures.append(
            rated(CASE, "batched", f"append records arriving {batch} at a time",
                  f"batch={batch}", "records/s", rate, moonshot_rate,
                  note="Moonshot commits each record on its own"),
        )
    log.info("appends: Sparring, filling one session to %d records", plan.fill_records)
    filled = await fill(plan, context.sparring.commands)
    result.figures += _fill_figures(plan, filled)
    cursor = page_cursor(filled.stored, plan.page_size)
    pages = {
        "page": (f"read a page of {plan.page_size} records", f"page after record {cursor}",
                 {"after": cursor}),
        "page_latest": (f"read the latest {plan.page_size} records", "", {"newest_first": True}),
    }
    try:
        read = await _pages_side_by_side(
            filled.runner, {name: where for name, (_, _, where) in pages.items()}, plan,
            context.sparring.commands,
        )
    except TimeoutError:
        result.notes.append(
            f"appends: a page read at K={filled.stored:,} took over {PAGE_TIMEOUT_S:.0f} s."
        )
        read = {}
    for name, (samples, commands) in read.items():
        measure, note, _ = pages[name]
        result.figures.append(
            timed(CASE, name, measure, f"K={filled.stored}", samples, None, note=note,
                  commands=commands)
        )
    if filled.stored < plan.fill_records:
        result.notes.append(
            f"appends: the fill stopped at {filled.stored:,} of {plan.fill_records:,} records "
            f"after {plan.child_timeout_s:.0f} s."
        )
    result.series["fill"] = filled.windows
    return result
