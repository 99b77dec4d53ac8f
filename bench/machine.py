"""A description of the machine a run measured, stored with its figures."""

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def _first_value(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    memory_kb = _first_value(Path("/proc/meminfo"), "MemTotal")
    return {
        "cpu": _first_value(Path("/proc/cpuinfo"), "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory_kb.split()[0]) / 1024 / 1024, 1) if memory_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "packages": {
            name: _version(name)
            for name in ("beanie", "pymongo", "litestar", "uvicorn", "httpx", "SecantusDB")
        },
    }
