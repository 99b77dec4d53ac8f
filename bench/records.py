"""Sparring-side chat record helpers: the workload's records as `ChatRecord`s, and bulk fills."""

from bench.workload import ENDPOINT, chat_record
from models import ChatRecord
from service.api import append_chat_records, iter_chat_records, reserve_chat_record_ids


def records_for(ids: list[int], endpoint: str = ENDPOINT) -> list[ChatRecord]:
    return [ChatRecord(chat_record_id=number, **chat_record(number, endpoint)) for number in ids]


async def fill(runner_id: str, count: int, *, workspace: str, chunk: int = 1_000) -> None:
    """Store `count` records with one reservation and one update per bucket."""
    ids = await reserve_chat_record_ids(runner_id, ENDPOINT, count, workspace=workspace)
    for start in range(0, count, chunk):
        await append_chat_records(
            runner_id, ENDPOINT, records_for(ids[start:start + chunk]), workspace=workspace
        )


async def read_page(
    runner_id: str, *, workspace: str, after: int = 0, limit: int, newest_first: bool = False
) -> list[dict]:
    return [
        record
        async for record in iter_chat_records(
            runner_id, ENDPOINT, workspace=workspace, after=after, limit=limit,
            newest_first=newest_first,
        )
    ]
