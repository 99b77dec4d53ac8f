"""`sparring worker`: a process that runs prompt tasks from the Redis stream (`process`)."""

import argparse
import asyncio

from service.cli_support import Subparsers, load_settings
from service.logs import configure_logging

NEEDS_REDIS = (
    "sparring worker needs SPARRING_REDIS_URL: without Redis, `sparring serve` runs prompts "
    "in its own process and no worker is needed."
)


def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.redis_url is None:
        raise SystemExit(NEEDS_REDIS)
    configure_logging(settings)
    # Imported here, so that registering the command keeps `sparring --help` light.
    from service.workers.process import serve_worker

    asyncio.run(serve_worker(settings))
    return 0


def add_worker_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="Run prompt tasks from Redis (SPARRING_REDIS_URL); start as many as you like.",
    )
    parser.set_defaults(handler=run_worker)
