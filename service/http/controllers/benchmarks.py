"""Benchmark runs: none run here, but Moonshot's web UI waits on their status before a session."""

from typing import Any

from litestar import Controller, get


class BenchmarkController(Controller):
    path = "/api/v1/benchmarks"
    tags = ["Benchmarks"]

    @get(
        "/status",
        summary="Status of running benchmarks: always none",
        description="Moonshot answers `{}` when no benchmark runs; its web UI's new-session "
        "wizard waits for this answer.",
    )
    async def benchmark_status(self) -> dict[str, Any]:
        return {}
