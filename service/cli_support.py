"""What every `sparring` subcommand shares: its settings, and the shape of its registration.

Subcommand modules (`service.admin_cli`, `service.workers.cli`, serving in `service.cli`)
import this and `service.logs`, never `service.cli`, which registers them all in one place.
"""

import argparse
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from service.settings import Settings

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse exposes no public name for it
# Runs a parsed command line; returns the exit code.
Handler = Callable[[argparse.Namespace], int]
# Adds one subcommand: calls `subparsers.add_parser(...)` and sets `handler` with `set_defaults`.
AddSubcommand = Callable[[Subparsers], None]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with command-line overrides; exits with the problem."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        raise SystemExit(f"sparring: invalid settings:\n{error}") from error
