"""The `sparring` command run as its own process: admin commands, and servers on free ports."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.embedded import free_loopback_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0


def sparring_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without its SPARRING_* variables, plus `settings`."""
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith("SPARRING_")
    }
    return {**inherited, **{f"SPARRING_{name.upper()}": value for name, value in settings.items()}}


def run_sparring(*args: str, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `sparring <args>` to completion with these settings."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env=sparring_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def sparring_servers(count: int, settings: dict[str, str], log_dir: Path) -> Iterator[list[str]]:
    """`count` processes of `sparring serve` on free 127.0.0.1 ports; yields their base URLs."""
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for number in range(count):
            port = free_loopback_port()
            log = (log_dir / f"serve-{number}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "serve"],
                    cwd=ROOT,
                    env=sparring_env({**settings, "host": "127.0.0.1", "port": str(port)}),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
            log.close()
            urls.append(f"http://127.0.0.1:{port}")
        for process, url in zip(processes, urls, strict=True):
            _wait_until_healthy(process, url, log_dir)
        yield urls
    finally:
        stop_processes(processes)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask each process to stop, all at once; kill whichever has not within 20 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sparring serve exited with {process.returncode}; see {log_dir}.")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"sparring serve did not answer within {STARTUP_TIMEOUT_S:.0f} s.")


def secantus_pids(storage: Path) -> list[int]:
    """Ids of the SecantusDB processes keeping their files in `storage` (read from /proc)."""
    wanted = str(storage.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any("secantusd" in argument for argument in arguments) and wanted in arguments:
            pids.append(int(entry.name))
    return pids
