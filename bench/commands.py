"""Round trips: a PyMongo command listener that counts the database commands a client sends.

On the embedded server, which runs one command at a time, the number of commands an operation
sends is its cost; on MongoDB it is its latency. Every case reports it beside its time.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pymongo import monitoring

from bench.timing import Bound, measure_async

# Where the bench's HTTP server (`bench.sparring_server`) answers the commands it has sent.
COMMANDS_PATH = "/__bench/commands"


class CommandCounter(monitoring.CommandListener):
    """Counts commands started (successful or not); `by_name` says which."""

    def __init__(self) -> None:
        self.count = 0
        self.by_name: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1
        self.by_name[event.command_name] = self.by_name.get(event.command_name, 0) + 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@dataclass(frozen=True)
class Counted:
    """Commands an operation sent on average: in all, and by command name (what its floor is
    made of)."""

    per_call: float
    by_name: dict[str, float]


def per_call(commands: int, calls: int) -> float | None:
    """Commands per call, or None when nothing was called."""
    return commands / calls if calls else None


async def measure_counted(
    counter: CommandCounter, call: Callable[[int], Awaitable[Any]], bound: Bound
) -> tuple[list[float], Counted | None]:
    """`measure_async`, and the commands each call sent on average.

    The bench's own process runs no background work on its client, so every command counted
    between the first call and the last belongs to the calls.
    """
    before, names_before = counter.count, dict(counter.by_name)
    samples = await measure_async(call, bound)
    if not samples:
        return samples, None
    by_name = {
        name: (count - names_before.get(name, 0)) / len(samples)
        for name, count in counter.by_name.items()
        if count != names_before.get(name, 0)
    }
    return samples, Counted((counter.count - before) / len(samples), by_name)


async def server_commands(client: httpx.AsyncClient) -> int:
    """Commands the bench's Sparring HTTP server has sent so far."""
    answer = await client.get(COMMANDS_PATH)
    answer.raise_for_status()
    return int(answer.json()["count"])


async def commands_per_request(
    client: httpx.AsyncClient, call: Callable[[], Awaitable[Any]], requests: int
) -> float | None:
    """Commands the server sent per `call`, over `requests` calls one after another.

    Counted on the server, so its background work (workers, the change stream) in the same
    moments is counted too: a figure for quiet moments, not for load.
    """
    before = await server_commands(client)
    for _ in range(requests):
        await call()
    return per_call(await server_commands(client) - before, requests)


# The database server's own counters (`serverStatus.opcounters`), by the command name the
# floor knows each by; "command" is every other command (findAndModify, aggregate, commits...).
OPCOUNTER_NAMES = {
    "query": "find", "getmore": "getMore", "insert": "insert", "update": "update",
    "delete": "delete", "command": "command",
}


async def database_commands(client: Any) -> dict[str, int]:
    """What the database server has run so far, by kind: every client's commands, so those
    of processes the bench has no listener in (Sparring's workers) too."""
    status = await client.admin.command("serverStatus")
    counters = status.get("opcounters") or {}
    return {name: int(counters.get(kind, 0)) for kind, name in OPCOUNTER_NAMES.items()}


def counted_between(before: dict[str, int], after: dict[str, int], calls: int) -> Counted | None:
    """Per call, what the database server ran between two `database_commands` readings."""
    if not calls:
        return None
    by_name = {
        name: (after.get(name, 0) - count) / calls
        for name, count in before.items() if after.get(name, 0) != count
    }
    return Counted(sum(by_name.values()), by_name)
