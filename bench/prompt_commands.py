"""Database commands of one prompt, by command name: to 1 and to N echo endpoints, in process.

Runs the service's own prompting (the in-process task queue, as `sparring serve` runs it) on an
embedded SecantusDB in a temporary directory, with a PyMongo command listener on its client,
and prints the commands of storing the batch and of running its tasks to the end (the wait of
`api_send_prompt` included), per batch and per endpoint task (the difference between N
endpoints and one, divided by N - 1).

Usage: python -m bench.prompt_commands [--endpoints 10] [--repeats 3] [--trace]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pydantic import SecretStr
from pymongo import AsyncMongoClient, monitoring

from bench.commands import CommandCounter
from service.api.prompting import api_send_prompt
from service.database import bind_database, close_database
from service.embedded import EmbeddedServer
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import TEST_SECRET_KEY, create_endpoint, create_session

WAIT_S = 30.0


class CommandTrace(monitoring.CommandListener):
    """Keeps each command's name and collection, in order, while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            target = event.command.get(event.command_name)
            self.commands.append(
                f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def prompt_commands(
    counter: CommandCounter, queue: TaskQueue, session: str, repeats: int
) -> tuple[Counter[str], float]:
    """Commands by name of one prompt to `session` and the time it took to answer, averaged
    over `repeats` after a warm-up."""
    totals: Counter[str] = Counter()
    elapsed = 0.0
    # Told of the batch's end as the service's handler is (`provide_batch_watch`).
    watch = queue.process_batches.watch if queue.process_batches is not None else None
    for repeat in range(repeats + 1):
        before = dict(counter.by_name)
        began = time.perf_counter()
        result = await api_send_prompt(
            session, f"Prompt {repeat}", enqueue=queue.enqueue, wait_s=WAIT_S, watch=watch
        )
        answered = time.perf_counter() - began
        if not result.finished:
            raise RuntimeError(f"The prompt to {session} did not finish within {WAIT_S} s.")
        # Whatever the tasks still do after the handler's answer belongs to the prompt too.
        await queue.wait_idle()
        if repeat:
            elapsed += answered
            totals.update({
                name: count - before.get(name, 0) for name, count in counter.by_name.items()
            })
    commands = Counter({name: count / repeats for name, count in totals.items() if count})
    return commands, elapsed / repeats


def _line(label: str, commands: Counter[str], answered_s: float | None = None) -> str:
    total = sum(commands.values())
    named = ", ".join(f"{name} {count:.3g}" for name, count in commands.most_common())
    took = "" if answered_s is None else f", answered in {answered_s * 1000:.1f} ms"
    return f"{label}: {total:.3g} commands ({named}){took}"


async def measure(endpoints: int, repeats: int, work_dir: Path, trace: bool) -> list[str]:
    server = EmbeddedServer(work_dir / "db")
    counter = CommandCounter()
    tracer = CommandTrace()
    client: AsyncMongoClient = AsyncMongoClient(
        server.start(), tz_aware=True, event_listeners=[counter, tracer]
    )
    settings = Settings(data_dir=work_dir / "data", secret_key=SecretStr(TEST_SECRET_KEY))
    try:
        await bind_database(client["prompt_commands"], client, bucket_size=settings.bucket_size)
        names = [await create_endpoint(f"Echo {n:02d}") for n in range(1, endpoints + 1)]
        one = await create_session("prompt-one", names[:1])
        many = await create_session("prompt-many", names)
        queue = TaskQueue(settings)
        await queue.start()
        try:
            by_one, one_s = await prompt_commands(counter, queue, one, repeats)
            by_many, many_s = await prompt_commands(counter, queue, many, repeats)
            if trace:
                tracer.on = True
                await prompt_commands(counter, queue, one, 1)
                tracer.on = False
        finally:
            await queue.stop()
    finally:
        await close_database()
        server.stop()
    per_task = Counter({
        name: (by_many[name] - by_one.get(name, 0)) / (endpoints - 1)
        for name in by_many
        if by_many[name] != by_one.get(name, 0)
    })
    # The trace covers a warm-up prompt and a counted one: the second half is one prompt.
    traced = tracer.commands[len(tracer.commands) // 2:]
    return [f"  {command}" for command in traced] + [
        _line("prompt to 1 endpoint", by_one, one_s),
        _line(f"prompt to {endpoints} endpoints", by_many, many_s),
        _line("per further endpoint task", per_task),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prompt_commands")
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--trace", action="store_true", help="also list the commands of one prompt, in order"
    )
    arguments = parser.parse_args(argv)
    if arguments.endpoints < 2 or arguments.repeats < 1:
        parser.error("--endpoints must be at least 2 and --repeats at least 1")
    with tempfile.TemporaryDirectory(prefix="prompt-commands-") as work_dir:
        lines = asyncio.run(measure(
            arguments.endpoints, arguments.repeats, Path(work_dir), arguments.trace
        ))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
