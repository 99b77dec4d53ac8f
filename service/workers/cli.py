"""`sparring worker`: a process that runs prompt tasks from the Redis stream."""

import argparse
import asyncio
import logging
import signal

from service.cli_support import Subparsers, load_settings
from service.logs import configure_logging
from service.settings import Settings

log = logging.getLogger("service.workers")

NEEDS_REDIS = (
    "sparring worker needs SPARRING_REDIS_URL: without Redis, `sparring serve` runs prompts "
    "in its own process and no worker is needed."
)


async def serve_worker(settings: Settings) -> None:
    """Run prompt tasks until SIGTERM or SIGINT; a task cut short is run again by another."""
    # Imported here, so that registering the command keeps `sparring --help` light.
    from taskiq import AcknowledgeType
    from taskiq.api import run_receiver_task

    from service.redteam.template_sandbox import close_template_sandbox
    from service.workers.broker import build_broker
    from service.workers.fairness import reserved_slots

    broker = build_broker(settings)
    broker.is_worker_process = True
    await broker.startup()
    receiver = asyncio.create_task(
        run_receiver_task(
            broker,
            # The broker hands out at most `worker_max_tasks` in turn; the reserved slots
            # beyond them go to workspaces with nothing running here.
            max_async_tasks=settings.worker_max_tasks + reserved_slots(settings.worker_max_tasks),
            max_prefetch=0,
            run_startup=False,
            # Acknowledged once it ran: a task of a worker that dies stays pending, for another.
            ack_time=AcknowledgeType.WHEN_EXECUTED,
        )
    )
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, receiver.cancel)
    log.info(
        "Worker running prompt tasks from Redis stream %r (up to %d at once).",
        settings.task_queue,
        settings.worker_max_tasks,
    )
    try:
        await receiver
    except asyncio.CancelledError:
        log.info("Worker stopping.")
    finally:
        await broker.shutdown()
        # Its template worker processes would otherwise outlive it until they notice.
        await close_template_sandbox()


def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.redis_url is None:
        raise SystemExit(NEEDS_REDIS)
    configure_logging(settings)
    asyncio.run(serve_worker(settings))
    return 0


def add_worker_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="Run prompt tasks from Redis (SPARRING_REDIS_URL); start as many as you like.",
    )
    parser.set_defaults(handler=run_worker)
