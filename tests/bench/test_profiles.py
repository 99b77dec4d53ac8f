"""`--profile`: py-spy's samples summed by process and by the function each stack ends in."""

import asyncio

from bench import profiles
from bench.profiles import IMPORTING, RATE, parse_raw

BENCH = 'process 10:"/usr/bin/python3.11 -m bench --profile"'
SERVER = 'process 11:"/opt/venv/bin/python -m secantusd --port 1"'
RAW = "\n".join([
    f"{BENCH};<module> (cli.py:3);run (cli.py:120);read_page (chats.py:40) 30",
    f"{BENCH};<module> (cli.py:3);run (cli.py:120);read_page (chats.py:41) 10",
    f"{BENCH};{SERVER};serve (server.py:9);sort_docs (ordering.py:77) 150",
    f"{BENCH};{SERVER};serve (server.py:9);encode (bson.py:5) 50",
    "a line py-spy never writes",
])


class TestParseRaw:
    def test_samples_go_to_the_innermost_process_and_the_function_on_top(self):
        processes = parse_raw(RAW)
        assert set(processes) == {10, 11}
        bench, server = processes[10], processes[11]
        assert bench.command == "python -m bench --profile"
        assert server.command == "python -m secantusd --port 1"
        # Two lines of one function are one function.
        assert bench.by_function == {"read_page (chats.py)": 40}
        assert (server.samples, server.by_function.most_common(1)) == (
            200, [("sort_docs (ordering.py)", 150)]
        )

    def test_whatever_runs_while_importing_a_module_counts_as_importing(self):
        processes = parse_raw("\n".join([
            f"{SERVER};<module> (app.py:1);_find_and_load (<frozen importlib._bootstrap>:1);"
            "<module> (nltk.py:3);compile (re.py:250) 9",
            f"{SERVER};<module> (app.py:1);serve (server.py:9) 1",
        ]))
        assert processes[11].by_function == {IMPORTING: 9, "serve (server.py)": 1}

    def test_a_stack_without_code_counts_for_nothing(self):
        assert parse_raw(f"{BENCH} 7") == {}


class TestMarkdown:
    def test_processes_busiest_first_with_their_cpu_seconds_and_shares(self):
        text = profiles.markdown("chats", parse_raw(RAW), seconds=4.0)
        server_at = text.index("python -m secantusd")
        assert server_at < text.index("python -m bench --profile")
        assert f"{200 / RATE:.2f} CPU s" in text
        assert "| `sort_docs (ordering.py)` | 75.0 % | 1.50 |" in text
        assert "over the case's 4.0 s" in text


async def test_without_py_spy_the_case_runs_and_says_why_there_is_no_profile(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(profiles, "py_spy_path", lambda: None)
    ran = []
    async with profiles.profile_case("chats", tmp_path) as profiled:
        ran.append(True)
    assert ran == [True]
    assert profiled.path is None and profiled.problem == profiles.MISSING
    assert not (tmp_path / "profiles").exists()


async def test_a_case_over_before_any_sample_still_gets_its_profile(tmp_path):
    # py-spy says it is sampling a moment before it would save on an interrupt; a case that
    # ends at once (a --tiny one on a fast machine) interrupted it in that moment, 3 in 20.
    assert profiles.py_spy_path() is not None, "py-spy comes with the test extra"
    for attempt in range(20):
        async with profiles.profile_case(f"empty{attempt}", tmp_path) as profiled:
            pass
        assert profiled.problem is None
        assert profiled.path == tmp_path / "profiles" / f"empty{attempt}.md"
        assert profiled.path.read_text().startswith(f"# Profile of the `empty{attempt}` case")


async def test_py_spys_output_is_read_to_its_end_keeping_only_the_tail():
    # Read as it comes, so a long case's warnings never fill the pipe and stall py-spy.
    stream = asyncio.StreamReader()
    stream.feed_data(b"x" * 100_000 + b"the last words")
    stream.feed_eof()
    tail = await profiles.tail_of(stream, keep=20)
    assert tail == b"xxxxxxthe last words"
