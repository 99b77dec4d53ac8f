"""Sparring's HTTP service under uvicorn on 127.0.0.1, for the HTTP cases.

Started as `sparring serve` starts it (same app, logging and uvicorn options), on the run's
database and with the per-key rate limit raised so that it never binds: the one of
`SPARRING_MONGODB_URI` (from the environment, since it may carry a password), else the embedded
server of the data dir, which the harness started.

The server counts the database commands it sends (a PyMongo listener registered before its
client is made) and answers the count at `GET /__bench/commands`, outside the app.

Usage: python -m bench.sparring_server --database NAME --data-dir DIR --port PORT
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from pymongo import monitoring

from bench.commands import COMMANDS_PATH, CommandCounter
from service.cli import configure_logging
from service.http import create_app
from service.settings import Settings

# The load tests measure the service, not its per-key limit (600 a minute by default).
BENCH_RATE_LIMIT_PER_MINUTE = 1_000_000_000
BENCH_MAX_STREAMS = 1_000


def counting(app: Any, counter: CommandCounter) -> Any:
    """`app`, but `GET COMMANDS_PATH` answers the commands sent so far (`Reading.to_dict`)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != COMMANDS_PATH:
            await app(scope, receive, send)
            return
        body = json.dumps(counter.reading().to_dict()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sparring_server")
    parser.add_argument("--database", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args(argv)
    settings = Settings(
        database=arguments.database,
        data_dir=arguments.data_dir,
        host="127.0.0.1",
        port=arguments.port,
        rate_limit_per_minute=BENCH_RATE_LIMIT_PER_MINUTE,
        # The idle-streams case holds 200 streams from one (key-less) client.
        max_streams_per_key=BENCH_MAX_STREAMS,
        max_streams_per_workspace=BENCH_MAX_STREAMS,
    )
    configure_logging(settings)
    counter = CommandCounter()
    # Registered globally, so the client the app's lifespan makes carries it.
    monitoring.register(counter)
    uvicorn.run(
        counting(create_app(settings), counter),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
