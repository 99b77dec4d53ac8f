"""Chats case: K records in one session's endpoint, then all chats of the session, and pages."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bench.commands import CommandCounter, measure_counted
from bench.context import RunContext, log
from bench.figures import CaseResult, timed
from bench.records import fill, read_page
from bench.timing import Bound
from bench.workload import ENDPOINT, SESSION_ENDPOINTS, runner_id, runner_name
from service.api import api_get_all_chats_from_session
from service.api.sessions.runners import create_runner_with_session

CASE = "chats"
WORKSPACE = "bench-chats"
# The same runner numbers as Moonshot's side (`bench.moonshot.chats.FIRST_CHAT_RUNNER`).
FIRST_CHAT_RUNNER = 90_000


def page_cursor(size: int, page_size: int) -> int:
    """The cursor of a page in the middle of the history (0 when it holds one page or less)."""
    return max(0, size // 2 - page_size // 2)


async def measure_sparring(
    sizes: tuple[int, ...], bound: Bound, page_size: int, counter: CommandCounter
) -> dict[str, dict[str, Any]]:
    """Times of each read at each size, and under `commands` the commands each read sent."""
    figures: dict[str, dict[str, Any]] = {}
    for position, size in enumerate(sizes):
        runner = runner_id(FIRST_CHAT_RUNNER + position)
        await create_runner_with_session(
            runner_name(FIRST_CHAT_RUNNER + position), "", SESSION_ENDPOINTS, {},
            workspace=WORKSPACE,
        )
        await fill(runner, size, workspace=WORKSPACE)
        chats = await api_get_all_chats_from_session(runner, workspace=WORKSPACE)
        if [r["chat_record_id"] for r in chats[ENDPOINT]] != list(range(1, size + 1)):
            raise RuntimeError(f"Sparring did not return records 1..{size} in order.")
        cursor = page_cursor(size, page_size)
        page = await read_page(runner, workspace=WORKSPACE, after=cursor, limit=page_size)
        if [r["chat_record_id"] for r in page] != list(
            range(cursor + 1, min(size, cursor + page_size) + 1)
        ):
            raise RuntimeError(f"Sparring returned the wrong page after record {cursor}.")
        reads: dict[str, Callable[[int], Awaitable[Any]]] = {
            "read_all": lambda i, r=runner: api_get_all_chats_from_session(r, workspace=WORKSPACE),
            "page": lambda i, r=runner, c=cursor: read_page(
                r, workspace=WORKSPACE, after=c, limit=page_size
            ),
            "page_latest": lambda i, r=runner: read_page(
                r, workspace=WORKSPACE, limit=page_size, newest_first=True
            ),
        }
        figures[str(size)] = {"json_bytes": len(json.dumps(chats)), "commands": {}}
        for name, read in reads.items():
            figures[str(size)][name], figures[str(size)]["commands"][name] = (
                await measure_counted(counter, read, bound)
            )
    return figures


async def run(context: RunContext) -> CaseResult:
    plan = context.plan
    log.info("chats: Sparring, K = %s", plan.chat_sizes)
    ours = await measure_sparring(
        plan.chat_sizes, plan.calls, plan.page_size, context.sparring.commands
    )
    theirs = None
    if context.moonshot is not None:
        log.info("chats: Moonshot, K = %s", plan.chat_sizes)
        theirs = await context.moonshot.run_case(
            "chats",
            {"sizes": list(plan.chat_sizes), "count": plan.calls.count,
             "seconds": plan.calls.seconds},
            context.moonshot.fresh_data("chats"),
        )
    result = CaseResult()
    for size in plan.chat_sizes:
        mine = ours[str(size)]
        other = None if theirs is None else theirs[str(size)]
        megabytes = f"{int(mine['json_bytes']) / 1e6:.1f} MB of JSON"
        result.figures += [
            timed(
                CASE, "read_all", "read all chats of the session", f"K={size}",
                mine["read_all"], None if other is None else other["read_all"], note=megabytes,
                commands=mine["commands"]["read_all"],
            ),
            timed(
                CASE, "page", f"read a page of {plan.page_size} records (Moonshot: all)",
                f"K={size}", mine["page"], None if other is None else other["read_all"],
                note=f"page after record {page_cursor(size, plan.page_size)}",
                commands=mine["commands"]["page"],
            ),
            timed(
                CASE, "page_latest", f"read the latest {plan.page_size} records", f"K={size}",
                mine["page_latest"], None, commands=mine["commands"]["page_latest"],
            ),
        ]
    return result
