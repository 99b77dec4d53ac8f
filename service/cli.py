"""The `sparring` command: `serve` runs the HTTP service; other subcommands register alongside."""

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from service.admin_cli import add_admin_command
from service.cli_support import AddSubcommand, Handler, Subparsers, load_settings
from service.export_cli import add_export_command, add_session_import_command
from service.logs import configure_logging
from service.moonshot_import.cli import add_import_command
from service.settings import Settings
from service.workers.cli import add_worker_command

# Importable from here as before (tests, bench): each lives in its own module.
__all__ = ["build_parser", "configure_logging", "load_settings", "main", "run_serve"]

log = logging.getLogger("service.cli")

GRACEFUL_SHUTDOWN_S = 5


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving the app, as `sparring serve` (and the tests) serve it."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # Keep the logging the process configured instead of uvicorn's own.
        "log_config": None,
        "access_log": True,
        # The app resolves the client address itself, believing X-Forwarded-For only from
        # SPARRING_FORWARDED_ALLOW_IPS; uvicorn would believe it from 127.0.0.1 by default.
        "proxy_headers": False,
        "forwarded_allow_ips": "",
        # Live event streams never end by themselves; past this, stopping cuts them (clients
        # reconnect with Last-Event-ID and miss nothing).
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }


def describe_database(settings: Settings) -> str:
    """Where the data lives, for the log: hosts only, never credentials or options."""
    if settings.mongodb_uri is None:
        return (
            "the embedded database (SecantusDB), data in "
            f"{(settings.data_dir.resolve() / 'db')}, database {settings.database!r}"
        )
    parts = urlsplit(settings.mongodb_uri.get_secret_value())
    hosts = parts.netloc.rpartition("@")[2]
    return f"MongoDB at {parts.scheme}://{hosts}, database {settings.database!r}"


def run_serve(args: argparse.Namespace) -> int:
    # Imported here so that `sparring --help` and other subcommands stay light.
    from service.http import create_app
    from service.serving import SupervisedServer

    settings = load_settings(host=args.host, port=args.port)
    configure_logging(settings)
    log.info("Using %s", describe_database(settings))
    log.info("Serving on http://%s:%s (API documentation at /schema)", settings.host, settings.port)
    server = SupervisedServer(create_app(settings), **server_options(settings))
    server.run()
    # The embedded database was given up (its supervisor logged why): exit non-zero, so that
    # whatever runs the service restarts it or tells someone, rather than serving 503s forever.
    return 1 if server.database_lost is not None else 0


def add_serve_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="Run the HTTP service (embedded database unless SPARRING_MONGODB_URI is set).",
    )
    parser.add_argument("--host", help="Address to bind to (default: SPARRING_HOST, 127.0.0.1).")
    parser.add_argument("--port", type=int, help="Port to bind to (default: SPARRING_PORT, 8000).")
    parser.set_defaults(handler=run_serve)


# Every subcommand of `sparring`, registered here and nowhere else. Each entry adds one: it
# calls `subparsers.add_parser(...)` and sets `handler` (a function of the parsed arguments
# returning the exit code) with `set_defaults`.
SUBCOMMANDS: tuple[AddSubcommand, ...] = (
    add_serve_command, add_admin_command, add_worker_command, add_import_command,
    add_export_command, add_session_import_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparring",
        description="Multi-user red-teaming session service with Moonshot's Session API.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
