"""Round trips: a PyMongo command listener that counts the database commands a client sends,
and times how long the client waited on them.

On the embedded server, which runs one command at a time, the number of commands an operation
sends is its cost; on MongoDB it is its latency. Every case reports it beside its time, with
the time its commands were in flight: the database's share of the operation at that data size,
so that what is left is ours.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo import monitoring

from bench.timing import Bound, measure_async

# Where the bench's HTTP server (`bench.sparring_server`) answers the commands it has sent.
COMMANDS_PATH = "/__bench/commands"


Answered = monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent


class CommandCounter(monitoring.CommandListener):
    """Counts commands started (successful or not), by name, and times how long at least one
    of them was in flight: from the first sent to the last answered (its reply decoded), the
    database's time for that work as the client sees it."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.by_name: dict[str, int] = {}
        self._in_flight: set[tuple[Any, int]] = set()
        self._busy_s = 0.0
        self._busy_since = 0.0

    @property
    def count(self) -> int:
        return sum(self.by_name.values())

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.by_name[event.command_name] = self.by_name.get(event.command_name, 0) + 1
        if not self._in_flight:
            self._busy_since = self._clock()
        self._in_flight.add((event.connection_id, event.request_id))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._ended(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._ended(event)

    def _ended(self, event: Answered) -> None:
        key = (event.connection_id, event.request_id)
        # A command started before the counter was registered was never timed.
        if key not in self._in_flight:
            return
        self._in_flight.remove(key)
        if not self._in_flight:
            self._busy_s += self._clock() - self._busy_since

    def reading(self) -> "Reading":
        busy_s = self._busy_s
        if self._in_flight:
            busy_s += self._clock() - self._busy_since
        return Reading(dict(self.by_name), busy_s)


@dataclass(frozen=True)
class Reading:
    """What a count of commands stood at, at one moment."""

    by_name: dict[str, int]
    # Seconds with at least one command in flight; None where the count is the database
    # server's own (`database_commands`), which times nothing.
    busy_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"count": sum(self.by_name.values()), "by_name": self.by_name, "busy_s": self.busy_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reading":
        return cls({name: int(count) for name, count in data["by_name"].items()}, data["busy_s"])


@dataclass(frozen=True)
class Counted:
    """Commands an operation sent on average: in all, and by command name (what its floor is
    made of), and the milliseconds it had one in flight, where timed."""

    per_call: float
    by_name: dict[str, float]
    database_ms: float | None = None


def counted_between(before: Reading, after: Reading, calls: int) -> Counted | None:
    """Per call, what was counted between two readings."""
    if not calls:
        return None
    by_name = {
        name: (count - before.by_name.get(name, 0)) / calls
        for name, count in after.by_name.items() if count != before.by_name.get(name, 0)
    }
    database_ms = None
    if before.busy_s is not None and after.busy_s is not None:
        database_ms = (after.busy_s - before.busy_s) * 1000 / calls
    return Counted(sum(by_name.values()), by_name, database_ms)


@dataclass
class Tally:
    """Commands summed over separate stretches: an operation timed in turn with others."""

    by_name: dict[str, int] = field(default_factory=dict)
    busy_s: float = 0.0

    def add(self, before: Reading, after: Reading) -> None:
        for name, count in after.by_name.items():
            self.by_name[name] = self.by_name.get(name, 0) + count - before.by_name.get(name, 0)
        self.busy_s += (after.busy_s or 0.0) - (before.busy_s or 0.0)

    def counted(self, calls: int) -> Counted | None:
        return counted_between(Reading({}, 0.0), Reading(self.by_name, self.busy_s), calls)


async def measure_counted(
    counter: CommandCounter, call: Callable[[int], Awaitable[Any]], bound: Bound
) -> tuple[list[float], Counted | None]:
    """`measure_async`, and the commands each call sent on average.

    The bench's own process runs no background work on its client, so every command counted
    between the first call and the last belongs to the calls.
    """
    before = counter.reading()
    samples = await measure_async(call, bound)
    return samples, counted_between(before, counter.reading(), len(samples))


async def server_commands(client: httpx.AsyncClient) -> Reading:
    """What the bench's Sparring HTTP server has sent so far."""
    answer = await client.get(COMMANDS_PATH)
    answer.raise_for_status()
    return Reading.from_dict(answer.json())


async def commands_per_request(
    client: httpx.AsyncClient, call: Callable[[], Awaitable[Any]], requests: int
) -> Counted | None:
    """Commands the server sent per `call`, over `requests` calls one after another.

    Counted on the server, so its background work (workers, the change stream) in the same
    moments is counted too: a figure for quiet moments, not for load.
    """
    before = await server_commands(client)
    for _ in range(requests):
        await call()
    return counted_between(before, await server_commands(client), requests)


# The database server's own counters (`serverStatus.opcounters`), by the command name the
# floor knows each by; "command" is every other command (findAndModify, aggregate, commits...).
OPCOUNTER_NAMES = {
    "query": "find", "getmore": "getMore", "insert": "insert", "update": "update",
    "delete": "delete", "command": "command",
}


async def database_commands(client: Any) -> Reading:
    """What the database server has run so far, by kind: every client's commands, so those
    of processes the bench has no listener in (Sparring's workers) too."""
    status = await client.admin.command("serverStatus")
    counters = status.get("opcounters") or {}
    return Reading({name: int(counters.get(kind, 0)) for kind, name in OPCOUNTER_NAMES.items()})
