"""`--profile`: where each process's CPU went during a case, sampled by py-spy.

One `py-spy record --subprocesses` on the bench's own process follows what it starts: the
embedded database server, Sparring's HTTP server and its workers. Its samples (stacks of busy
threads only) are summed by process and by the function on top of each stack, and written to
`profiles/<case>.md` beside `results.md`: how many CPU seconds each process spent, and on what.
Sampling costs CPU on a 2-core machine, so a profiled run's timings are not its figures: it is
a separate run, for the evidence behind a gap.
"""

import asyncio
import os
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Samples per second per process: enough to rank functions over a case of a few seconds.
RATE = 100
TOP_FUNCTIONS = 15
STOP_TIMEOUT_S = 30.0
# Attaching to a process tree takes py-spy a moment; an interrupt before then kills it unsaved.
START_TIMEOUT_S = 30.0
HANDLER_POLL_S = 0.001
# Bytes of py-spy's output kept to say why it took no profile.
KEPT_OUTPUT = 300
_SAMPLING = b"Sampling process"
MISSING = (
    "py-spy is not installed, so no profiles were taken; `pip install -e '.[bench]'` installs it"
)
_PROCESS_FRAME = re.compile(r'^process (\d+):"(.*)"$')
# `name (file.py:123)`: the line number makes every line of a function a function of its own.
_LINE = re.compile(r":\d+\)$")
# A process starting (the HTTP server of a case) imports its modules: one line, not fifty.
IMPORTING = "(importing modules)"
_IMPORT_FRAME = "<frozen importlib._bootstrap>"


@dataclass
class ProcessProfile:
    """One process's busy samples: in all, and by the function on top of the stack."""

    command: str
    samples: int = 0
    by_function: Counter[str] = field(default_factory=Counter)


def parse_raw(text: str) -> dict[int, ProcessProfile]:
    """py-spy's raw output (`frame;frame;... count` per line) summed by innermost process."""
    processes: dict[int, ProcessProfile] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        owner: tuple[int, str] | None = None
        code: list[str] = []
        for frame in frames:
            process = _PROCESS_FRAME.match(frame)
            if process:
                owner, code = (int(process.group(1)), process.group(2)), []
            else:
                code.append(frame)
        if owner is None or not code:
            continue
        profile = processes.setdefault(owner[0], ProcessProfile(_short(owner[1])))
        profile.samples += int(count)
        importing = any(_IMPORT_FRAME in frame for frame in code)
        profile.by_function[IMPORTING if importing else _LINE.sub(")", code[-1])] += int(count)
    return processes


def _short(command: str) -> str:
    """A command line without the interpreter's path: `python -m bench.sparring_server ...`."""
    parts = command.split()
    if parts and "python" in Path(parts[0]).name:
        parts[0] = "python"
    return " ".join(parts)[:160]


def markdown(case: str, processes: dict[int, ProcessProfile], seconds: float) -> str:
    lines = [
        f"# Profile of the `{case}` case",
        "",
        f"py-spy, {RATE} samples/s of busy threads, over the case's {seconds:.1f} s. CPU s: the "
        "process's busy samples over the rate (threads added up).",
    ]
    ranked = sorted(processes.items(), key=lambda item: item[1].samples, reverse=True)
    for pid, profile in ranked:
        lines += [
            "",
            f"## {profile.command} (pid {pid}): {profile.samples / RATE:.2f} CPU s",
            "",
            "| function (self) | share of the process | CPU s |",
            "|---|---|---|",
        ]
        for function, samples in profile.by_function.most_common(TOP_FUNCTIONS):
            lines.append(
                f"| `{function}` | {100 * samples / profile.samples:.1f} % | "
                f"{samples / RATE:.2f} |"
            )
    return "\n".join(lines) + "\n"


def py_spy_path() -> str | None:
    """py-spy beside this interpreter (its virtualenv, activated or not), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profiled:
    """What `profile_case` leaves: the summary's path, or why there is none."""

    path: Path | None = None
    problem: str | None = None


@asynccontextmanager
async def profile_case(case: str, out_dir: Path) -> AsyncIterator[Profiled]:
    """Sample this process and its children while the block runs; write the case's summary."""
    outcome = Profiled()
    executable = py_spy_path()
    if executable is None:
        outcome.problem = MISSING
        yield outcome
        return
    folder = out_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{case}.raw"
    loop = asyncio.get_running_loop()
    process = await asyncio.create_subprocess_exec(
        executable, "record", "--pid", str(os.getpid()), "--subprocesses", "--nonblocking",
        "--rate", str(RATE), "--format", "raw", "--output", str(raw),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        sampling = await asyncio.wait_for(_sampling(process), START_TIMEOUT_S)
    except TimeoutError:
        sampling = False
    if not sampling:
        if process.returncode is None:
            process.kill()
        _, errors = await process.communicate()
        outcome.problem = (
            f"py-spy did not start sampling for {case}: "
            f"{errors.decode(errors='replace')[-KEPT_OUTPUT:]}"
        )
        yield outcome
        return
    assert process.stdout is not None and process.stderr is not None
    # Read while it samples: a long case's warnings would otherwise fill a pipe and stall it.
    output = asyncio.gather(tail_of(process.stdout), tail_of(process.stderr))
    started = loop.time()
    try:
        yield outcome
    finally:
        seconds = loop.time() - started
        # py-spy writes what it sampled when interrupted, as after Ctrl-C.
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(output, STOP_TIMEOUT_S)
        await process.wait()
        if raw.exists():
            summary = folder / f"{case}.md"
            summary.write_text(markdown(case, parse_raw(raw.read_text()), seconds))
            outcome.path = summary
        else:
            outcome.problem = (
                f"py-spy took no profile of {case}: {errors.decode(errors='replace')}"
            )


async def _sampling(process: asyncio.subprocess.Process) -> bool:
    """Whether py-spy is sampling and will save on an interrupt, or has exited instead.

    It prints that it is sampling a moment before its Ctrl-C handler is in place; an interrupt
    in between kills it without a file (one short case in twenty here), so the handler itself,
    as the kernel reports it, is what is waited for.
    """
    assert process.stdout is not None
    if _SAMPLING not in await process.stdout.readline():
        return False
    while not _catches_interrupt(process.pid):
        if process.returncode is not None:
            return False
        await asyncio.sleep(HANDLER_POLL_S)
    return True


def _catches_interrupt(pid: int) -> bool:
    """Whether the process has a handler for SIGINT (Linux's /proc; elsewhere, assumed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/status").exists()
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return True


async def tail_of(stream: asyncio.StreamReader, keep: int = KEPT_OUTPUT) -> bytes:
    """The last `keep` bytes of what `stream` gives until it ends."""
    tail = b""
    while chunk := await stream.read(4096):
        tail = (tail + chunk)[-keep:]
    return tail
