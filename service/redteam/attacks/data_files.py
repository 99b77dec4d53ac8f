"""The word lists and tables the attack modules ship, read from the package, never downloaded."""

import json
from collections.abc import Mapping
from importlib.resources import files
from types import MappingProxyType

PACKAGE = "service.redteam.attacks"


def read_table(name: str) -> Mapping[str, tuple[str, ...]]:
    """`data/<name>.json`: an object of string -> list of strings, made read-only."""
    raw = json.loads(files(PACKAGE).joinpath("data", f"{name}.json").read_text("utf-8"))
    return MappingProxyType({key: tuple(values) for key, values in raw.items()})
