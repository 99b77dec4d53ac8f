"""Drives Moonshot from the harness: one child process per case, and its web API under uvicorn."""

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.moonshot.venv import prepare_data
from bench.processes import Server, start_server
from bench.workload import SESSION_ENDPOINTS

REPOSITORY = Path(__file__).resolve().parents[2]


class MoonshotError(RuntimeError):
    """A Moonshot child process failed or ran out of time."""


@dataclass(frozen=True)
class MoonshotDriver:
    python: Path
    work_dir: Path
    timeout_s: float

    def fresh_data(self, name: str, endpoints: list[str] | None = None) -> Path:
        """An empty Moonshot data folder for one case, so that no case sees another's runners."""
        return prepare_data(
            self.work_dir / "moonshot" / name,
            list(SESSION_ENDPOINTS if endpoints is None else endpoints),
        )

    async def run_case(self, case: str, params: dict[str, Any], data: Path) -> Any:
        """Run `case` in a child process with Moonshot's interpreter and return its JSON result."""
        result = data.parent / f"{data.name}-{case}.json"
        log_path = self.work_dir / "logs" / f"moonshot-{data.name}-{case}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                str(self.python), "-m", "bench.moonshot.child", case,
                "--data", str(data), "--params", json.dumps(params), "--out", str(result),
                cwd=REPOSITORY, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            )
            try:
                code = await asyncio.wait_for(process.wait(), self.timeout_s)
            except TimeoutError as error:
                process.kill()
                await process.wait()
                raise MoonshotError(
                    f"Moonshot's {case} case took over {self.timeout_s:.0f} s; see {log_path}"
                ) from error
        if code != 0:
            raise MoonshotError(f"Moonshot's {case} case exited with {code}; see {log_path}")
        return json.loads(result.read_text())

    @asynccontextmanager
    async def web_api(self, data: Path) -> AsyncIterator[Server]:
        """Moonshot's web API on a free 127.0.0.1 port, serving the sessions under `data`."""
        async with start_server(
            "moonshot",
            [str(self.python), "-m", "bench.moonshot.server", "--data", str(data)],
            cwd=REPOSITORY,
            log_path=self.work_dir / "logs" / f"moonshot-web-api-{data.name}.log",
            timeout_s=self.timeout_s,
        ) as server:
            yield server
