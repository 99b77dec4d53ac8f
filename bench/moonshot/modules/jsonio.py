"""Moonshot's `jsonio` file module, written for the benchmarks: runner and endpoint JSON files."""

import json
from collections.abc import Iterator
from typing import Any

from moonshot.src.storage.io_interface import IOInterface
from moonshot.src.utils.log import configure_logger

logger = configure_logger(__name__)


class JsonIO(IOInterface):
    def __init__(self, json_path: str) -> None:
        self.json_path = json_path

    def create_file(self, data: dict) -> bool:
        with open(self.json_path, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, ensure_ascii=False)
        return True

    def create_file_with_iterator(
        self, data: dict, iterator_keys: list[str], iterator_data: Iterator[dict]
    ) -> bool:
        document = dict(data)
        for key in iterator_keys:
            document[key] = list(iterator_data)
        return self.create_file(document)

    def read_file(self) -> dict | None:
        try:
            with open(self.json_path, encoding="utf-8") as file:
                return json.load(file)
        except FileNotFoundError:
            logger.error(f"[JsonIO] No file found at {self.json_path}")
            return None

    def read_file_iterator(
        self, json_keys: list[str] | None = None, iterator_keys: list[str] | None = None
    ) -> dict[str, Any] | None:
        document = self.read_file()
        if document is None:
            return None
        found: dict[str, Any] = {key: document.get(key) for key in json_keys or []}
        for key in iterator_keys or []:
            value = document.get(key.split(".")[0])
            found[key.split(".")[0]] = iter(value if isinstance(value, list) else [value])
        return found
