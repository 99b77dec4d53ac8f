"""Runs one case against Moonshot 0.7.6 inside its own virtualenv and writes the figures as JSON.

Usage (from the repository root, with Moonshot's interpreter):
    python -m bench.moonshot.child CASE --data DIR --params JSON --out FILE
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.moonshot.venv import DATA_FOLDERS


def activate(data: Path) -> None:
    """Point every Moonshot data folder at `data`, before any of its modules is used."""
    from moonshot.api import api_set_environment_variables

    api_set_environment_variables(
        {folder.replace("-", "_").upper(): str(data / folder) for folder in DATA_FOLDERS}
    )


def run_case(case: str, params: dict[str, Any]) -> Any:
    # Imported here: each module imports Moonshot, which must see the data folders first.
    if case == "sessions":
        from bench.moonshot import sessions

        return sessions.run(**params)
    if case == "populate":
        from bench.moonshot import sessions

        return sessions.populate(**params)
    if case == "chats":
        from bench.moonshot import chats

        return chats.run(**params)
    if case == "appends":
        from bench.moonshot import chats

        return chats.appends(**params)
    if case == "read_back":
        from bench.moonshot import chats

        return chats.read_back(**params)
    if case == "import_source":
        from bench.moonshot import sources

        return sources.make_session(**params)
    if case == "redteam":
        from bench.moonshot import redteam

        return redteam.run(**params)
    raise SystemExit(f"unknown case {case!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.moonshot.child")
    parser.add_argument("case")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    activate(arguments.data)
    result = run_case(arguments.case, json.loads(arguments.params))
    arguments.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
