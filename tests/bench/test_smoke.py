"""`python -m bench` at tiny sizes, Sparring only: every output file is written with its fields.

Timings are never asserted here; speed goals live in the benchmark's own table.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import plots
from bench.cases.sessions import MEASURES
from bench.plan import TINY
from tests.support.redis_server import redis_server_executable

REPOSITORY = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 600
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_FIELDS = {
    "ms": {"count", "median_ms", "p90_ms", "p99_ms"},
    "req/s": {"per_s", "requests", "p50_ms", "p99_ms", "errors", "unfinished"},
    "records/s": {"per_s", "records", "seconds"},
    "users served": {"users", "served", "errors", "error_kinds", "read_back", "p50_ms"},
    "prompts/s": {"per_s", "prompts", "endpoints", "calls", "seconds"},
}


def run_bench(
    *arguments: str, timeout: float = RUN_TIMEOUT_S, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *arguments],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout, check=False,
        env=None if environment is None else {**os.environ, **environment},
    )


@pytest.fixture(scope="module")
def results_dir(server_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny Sparring-only run on the test server, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("bench")
    # The redteam case runs its Redis variant only with redis-server on PATH: installed here as
    # for the Redis tests, so that this run does not depend on one of those having run first.
    redis_server_executable()
    completed = run_bench(
        "--tiny", "--sparring-only", "--mongodb-uri", server_uri,
        "--out", str(root / "results"), "--work-dir", str(root / "work"),
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return root / "results"


@pytest.fixture(scope="module")
def results(results_dir: Path) -> dict[str, Any]:
    return json.loads((results_dir / "results.json").read_text())


class TestResultsJson:
    def test_describes_the_run_and_the_machine(self, results):
        assert results["mode"] == "tiny"
        assert results["moonshot"] is None
        assert results["failed"] == []
        assert results["database"].startswith(("SecantusDB", "MongoDB"))
        machine = results["machine"]
        assert machine["cores"] >= 1
        assert machine["python"] == ".".join(map(str, sys.version_info[:3]))
        assert {"cpu", "memory_gb", "os", "load_average", "packages"} <= set(machine)

    def test_every_session_call_is_timed_at_every_level(self, results):
        keys = {figure["key"] for figure in results["figures"]}
        expected = {
            f"sessions.{name}.N={level}" for level in TINY.session_levels for name in MEASURES
        }
        assert expected <= keys

    def test_every_case_contributes_figures(self, results):
        cases = {figure["case"] for figure in results["figures"]}
        # `import` needs Moonshot to make its session, so a Sparring-only run notes it as not run.
        assert cases == {
            "sessions", "chats", "appends", "http", "users", "fanout", "idle_streams",
            "noisy_neighbour", "redteam",
        }

    def test_every_user_is_served_and_read_back(self, results):
        (users,) = [figure for figure in results["figures"] if figure["case"] == "users"]
        outcome = users["sparring"]
        assert outcome["users"] == TINY.users
        assert outcome["served"] == outcome["read_back"] == TINY.users
        assert outcome["errors"] == 0 and outcome["error_kinds"] == {}

    def test_the_red_teaming_run_is_measured_in_process_and_through_redis(self, results):
        runs = {
            figure["key"].split(".")[1]: figure["sparring"]
            for figure in results["figures"] if figure["case"] == "redteam"
        }
        assert set(runs) == {"in_process", "redis"}
        for outcome in runs.values():
            assert outcome["prompts"] == TINY.redteam_prompts
            assert outcome["endpoints"] == TINY.redteam_endpoints
            assert outcome["calls"] == TINY.redteam_prompts * TINY.redteam_endpoints
            # No faster than the endpoints allow: each prompt waits for its answers.
            assert outcome["seconds"] >= TINY.redteam_latency_s
            assert outcome["per_s"] == pytest.approx(outcome["calls"] / outcome["seconds"])
        # Counted by the database server, Redis workers included: each call reads its task,
        # holds, appends and numbers and stores its event at the least.
        for figure in results["figures"]:
            if figure["case"] == "redteam":
                assert figure["commands"] >= 6, figure["key"]
                assert figure["command_mix"]["update"] >= 2, figure["key"]

    def test_each_figure_carries_the_fields_of_its_unit(self, results):
        for figure in results["figures"]:
            assert SUMMARY_FIELDS[figure["unit"]] <= set(figure["sparring"]), figure["key"]
            # Sparring only: no Moonshot side, so no advantage to report.
            assert figure["moonshot"] is None and figure["advantage"] is None, figure["key"]

    def test_http_figures_count_requests_and_errors(self, results):
        http = [figure for figure in results["figures"] if figure["case"] == "http"]
        assert {figure["key"].split(".")[1] for figure in http} == {
            "list_sessions", "get_session", "list_sessions_not_modified"
        }
        for figure in http:
            if figure["unit"] != "req/s":
                continue
            assert figure["sparring"]["requests"] > 0
            assert figure["sparring"]["errors"] == 0, figure["sparring"]["error_kinds"]

    def test_database_commands_are_counted_per_operation(self, results):
        figures = {figure["key"].rsplit(".", 1)[0]: figure for figure in results["figures"]}
        counted = [
            "sessions.list_metadata", "sessions.list_metadata_page", "sessions.list_names",
            "sessions.delete", "http.list_sessions", "http.list_sessions_not_modified",
            "chats.page", "chats.read_all", "appends.single", "fanout.one",
        ]
        for key in counted:
            assert figures[key]["commands"] >= 1, key
        # A listing is one find, whatever the number of sessions (one reply, no getMore).
        assert figures["sessions.list_metadata"]["commands"] == 1

    def test_the_database_time_of_each_timed_operation_is_within_its_time(self, results):
        timed = [
            figure for figure in results["figures"]
            if figure["database_ms"] is not None and figure["unit"] == "ms"
        ]
        # In process (the api functions) and on the HTTP server process (a prompt) alike.
        assert {"sessions", "chats", "appends", "fanout"} <= {figure["case"] for figure in timed}
        for figure in timed:
            # A mean against a median: the slowest calls may pull the mean up a little.
            assert 0 < figure["database_ms"] <= figure["sparring"]["p99_ms"] * 1.01, figure["key"]

    def test_each_counted_figure_has_the_servers_floor_beside_it(self, results):
        counted = [figure for figure in results["figures"] if figure["commands"] is not None]
        assert counted
        for figure in counted:
            early = results["series"]["floors_before_fill"]["appends"]
            before_fill = figure["key"].split(".")[1] in ("single", "reserve_and_append")
            floor = early if before_fill else results["series"]["floors"][figure["case"]]
            kinds = [floor["find_ms"], floor["update_ms"], floor["find_and_modify_ms"]]
            if figure["command_mix"] is None:
                assert figure["floor_ms"] == pytest.approx(
                    figure["commands"] * floor["per_command_ms"]
                ), figure["key"]
            else:
                assert sum(figure["command_mix"].values()) == pytest.approx(figure["commands"])
                # Each command at its kind's time: within what the cheapest and dearest allow.
                assert (
                    figure["commands"] * min(kinds) * 0.999
                    <= figure["floor_ms"]
                    <= figure["commands"] * max(kinds) * 1.001
                ), figure["key"]
            if figure["database_ms"] is None:
                assert figure["gap_ms"] is None, figure["key"]
            elif figure["unit"] == "ms":
                measured = figure["sparring"]["median_ms"]
                assert figure["gap_ms"] == pytest.approx(measured - figure["database_ms"])
        assert {"find_ms", "update_ms", "find_and_modify_ms"} <= set(
            results["series"]["floors"]["appends"]
        )

    def test_the_fill_series_spans_the_fill(self, results):
        windows = results["series"]["fill"]
        assert windows[0]["mode"] == "single" and windows[-1]["mode"] == "single"
        assert windows[-1]["stored"] == TINY.fill_records
        assert [window["stored"] for window in windows] == sorted(
            window["stored"] for window in windows
        )

    def test_targets_needing_moonshot_are_not_judged(self, results):
        checks = {check["target"]: check for check in results["targets"]}
        moonshot_bound = [text for text in checks if "Moonshot" in text or "faster" in text]
        assert moonshot_bound
        for text in moonshot_bound:
            assert checks[text]["met"] is None, text


class TestMarkdownTable:
    def test_has_one_row_per_figure_and_one_per_target(self, results_dir, results):
        table = (results_dir / "results.md").read_text()
        rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
        headers = 2
        assert len(rows) == len(results["figures"]) + len(results["targets"]) + headers
        assert (
            "| case | measure | size | Sparring | commands/op | floor | database | gap | Moonshot "
            "| advantage |" in table
        )


class TestPlots:
    @pytest.mark.parametrize("name", ["cost_per_call.png", "append_rate.png"])
    def test_writes_png_files(self, results_dir, name):
        assert (results_dir / name).read_bytes()[:8] == PNG_MAGIC

    def test_says_how_to_get_plots_without_matplotlib(self, tmp_path, monkeypatch):
        # None in sys.modules makes `import matplotlib` fail, as without the bench extra.
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        with pytest.raises(plots.PlotsUnavailable, match=r"pip install -e '\.\[bench\]'"):
            plots.cost_per_call({"levels": []}, tmp_path / "cost.png")
        assert not (tmp_path / "cost.png").exists()


class TestRedteamWithoutRedis:
    def test_the_redis_variant_is_noted_as_not_run(self, server_uri, tmp_path):
        # Only the interpreter's own folder on PATH: no redis-server to be found.
        completed = run_bench(
            "--tiny", "--sparring-only", "--cases", "redteam", "--mongodb-uri", server_uri,
            "--out", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"),
            environment={"PATH": str(Path(sys.executable).parent)},
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        results = json.loads((tmp_path / "results" / "results.json").read_text())
        assert [figure["key"].split(".")[1] for figure in results["figures"]] == ["in_process"]
        assert any("redis-server is not installed" in note for note in results["notes"])
        table = (tmp_path / "results" / "results.md").read_text()
        assert "the Redis variant was not run" in table


class TestProfile:
    def test_each_case_gets_where_its_processes_spent_their_cpu(self, server_uri, tmp_path):
        completed = run_bench(
            "--tiny", "--sparring-only", "--cases", "chats,fanout", "--profile",
            "--mongodb-uri", server_uri,
            "--out", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"),
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        results = json.loads((tmp_path / "results" / "results.json").read_text())
        for case in ("chats", "fanout"):
            assert f"{case}: where each process's CPU went, in {case}.md under profiles/" in (
                results["notes"]
            )
        chats = (tmp_path / "results" / "profiles" / "chats.md").read_text()
        # The chats case reads in the bench's own process.
        assert "## python -m bench" in chats and "CPU s" in chats
        # The fanout case prompts Sparring's HTTP server, a process the bench started.
        fanout = (tmp_path / "results" / "profiles" / "fanout.md").read_text()
        assert "## python -m bench.sparring_server" in fanout


class TestCommandLine:
    def test_an_unknown_case_is_refused_naming_it(self):
        completed = run_bench("--cases", "sessions,nope", timeout=60)
        assert completed.returncode == 2
        assert "unknown cases: nope" in completed.stderr

    def test_full_and_tiny_together_are_refused(self):
        completed = run_bench("--full", "--tiny", timeout=60)
        assert completed.returncode == 2
        assert "--tiny" in completed.stderr and "--full" in completed.stderr
