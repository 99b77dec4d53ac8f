"""The database server's own floor: its time per trivial command, measured in the same run.

On the embedded server, which runs one command at a time, an operation of `c` commands cannot
take less than `c` trivial commands do at the same moment and data size. So each figure with a
command count gets `floor = commands/op × time per command`: what the number of round trips
alone costs. Where the case timed its commands in flight (`Figure.database_ms`, the server's
time for that very work, at that size), `gap = measured - database_ms` is what our code adds.
"""

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from pymongo import ReturnDocument

from bench.figures import Figure

# A few hundred commands: cheap beside any case, enough for a steady median.
FLOOR_CALLS = 75
# Added to the collection a case works on (so the floor sees that collection's size), then removed.
PROBE_ID = "__bench_floor__"
READS = frozenset({"find", "getMore", "aggregate", "count", "distinct", "listIndexes"})
WRITES = frozenset({"update", "insert", "delete"})
# Where findAndModify is timed: a collection of one document (see `CommandFloor`).
COUNTER_COLLECTION = "bench_floor"


@dataclass(frozen=True)
class CommandFloor:
    """Median milliseconds of trivial commands on one small document addressed by `_id`.

    `find_ms` and `update_ms` (an `update` sent as our appends send theirs, not retryable) are
    the floor. The two others say what the server adds for the kind of command alone, at that
    moment: `retryable_update_ms`, the same update as a retryable write (the server scans its
    record of recent retryable writes on each), and `find_and_modify_ms`, measured in a
    collection of its own since the server scans the whole collection for every findAndModify.
    """

    collection: str
    find_ms: float
    update_ms: float
    retryable_update_ms: float
    find_and_modify_ms: float

    @property
    def per_command_ms(self) -> float:
        """For a figure whose commands were not counted by name."""
        return (self.find_ms + self.update_ms) / 2

    def command_ms(self, name: str) -> float:
        """The floor of one command called `name`: its kind's time, the least the server takes."""
        if name in READS:
            return self.find_ms
        if name in WRITES:
            return self.update_ms
        if name == "findAndModify":
            return self.find_and_modify_ms
        return self.per_command_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_command_ms": self.per_command_ms}


async def measure_floor(
    database: Any, collection_name: str, calls: int = FLOOR_CALLS
) -> CommandFloor:
    """Time `calls` commands of each kind on one small document placed in `collection_name` of
    `database` (the collection the case's data is in, so the floor sees its size), interleaved;
    the document is removed after."""
    collection = database[collection_name]
    alone = database[COUNTER_COLLECTION]
    probe = {"_id": PROBE_ID}
    bump = {"$inc": {"n": 1}}
    await collection.update_one(probe, {"$set": {"n": 0}}, upsert=True)
    await alone.update_one(probe, {"$set": {"n": 0}}, upsert=True)
    kinds: dict[str, Callable[[], Awaitable[Any]]] = {
        "find": lambda: collection.find_one(probe),
        # `update_many` on an `_id`: one document, and no transaction number.
        "update": lambda: collection.update_many(probe, bump),
        "retryable_update": lambda: collection.update_one(probe, bump),
        "find_and_modify": lambda: alone.find_one_and_update(
            probe, bump, return_document=ReturnDocument.AFTER
        ),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for _ in range(calls):
            for kind, command in kinds.items():
                started = time.perf_counter()
                await command()
                samples[kind].append(time.perf_counter() - started)
    finally:
        await collection.delete_one(probe)
        await alone.drop()
    medians = {kind: statistics.median(times) * 1000 for kind, times in samples.items()}
    return CommandFloor(collection=collection_name, **{f"{k}_ms": v for k, v in medians.items()})


def operation_ms(figure: Figure) -> float | None:
    """Sparring's milliseconds per operation: the median of a timed figure, or 1/rate."""
    if figure.sparring is None:
        return None
    if figure.unit == "ms":
        return float(figure.sparring["median_ms"])
    per_s = figure.sparring.get("per_s")
    # A rate under load: on a server running one command at a time, its inverse is the time
    # each operation held the server.
    if figure.unit in ("records/s", "req/s", "prompts/s") and per_s:
        return 1000 / float(per_s)
    return None


def apply_floor(figures: list[Figure], floor: CommandFloor) -> None:
    """Give each counted figure that has none yet its floor, from `floor` (each command at its
    kind's time where the figure has them by name, else at the mean of a find and an update),
    and its gap where its commands were timed."""
    for figure in figures:
        if figure.commands is None or figure.floor_ms is not None:
            continue
        if figure.command_mix:
            figure.floor_ms = sum(
                count * floor.command_ms(name) for name, count in figure.command_mix.items()
            )
        else:
            figure.floor_ms = figure.commands * floor.per_command_ms
        measured = operation_ms(figure)
        if measured is not None and figure.database_ms is not None:
            figure.gap_ms = measured - figure.database_ms
