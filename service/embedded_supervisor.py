"""Keeps the embedded database running: restarts it when it exits, gives up when it cannot.

A thread beside the process that runs the server polls whether it still runs; when it has
exited, the thread starts it again on the same data directory and port (so every client, here
and in the processes that joined it, reconnects with the address and login it has), with a
backoff between failed attempts. When the data directory is gone, or `MAX_FAILED_RESTARTS`
attempts fail in a row, it stops trying and records why, for the process to exit on.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

POLL_S = 0.2
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 4.0
# Failed restarts in a row (a start that never answered, or a server that died again within
# STABLE_S of being restarted) after which the database is given up.
MAX_FAILED_RESTARTS = 5
STABLE_S = 10.0


class RestartImpossible(RuntimeError):
    """The server cannot be started again whatever the wait (its data directory is gone)."""


@dataclass(frozen=True)
class ExitStatus:
    """Whether the supervised server has exited, and its exit code when it was a child."""

    exited: bool
    code: int | None = None


class Supervised(Protocol):
    """What the supervisor needs of a server: its state, its address and a way to restart it."""

    @property
    def address(self) -> str: ...

    def exit_status(self) -> ExitStatus: ...

    def restart(self) -> None:
        """Start the server again on its port; raises when it did not come up."""


class Supervisor:
    """Restarts `server` whenever it exits, until stopped or until it cannot."""

    def __init__(self, server: Supervised) -> None:
        self._server = server
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="embedded-database-supervisor", daemon=True
        )
        self.restarts = 0
        # Why the server was given up, once it was; the process exits on it.
        self.lost: str | None = None

    @property
    def watching(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the server is stopped on purpose), waiting for a restart in
        progress to finish so that nothing is started behind the caller's back."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _watch(self) -> None:
        failures = 0
        back_since = time.monotonic()
        while not self._stopping.wait(POLL_S):
            status = self._server.exit_status()
            if not status.exited:
                continue
            if time.monotonic() - back_since < STABLE_S:
                failures += 1  # died again right after a restart: a crash loop
            else:
                failures = 0
            self.restarts += 1
            code = "unknown (not a child of this process)" if status.code is None else status.code
            log.warning(
                "The embedded database exited with code %s; restarting it on %s with the same "
                "data (restart %s).",
                code, self._server.address, self.restarts,
            )
            still_failed = self._restart(failures)
            if still_failed is None:
                return
            failures = still_failed
            back_since = time.monotonic()

    def _restart(self, failures: int) -> int | None:
        """Restart until it comes up (the failures so far), or give up (None)."""
        down_since = time.monotonic()
        while failures < MAX_FAILED_RESTARTS:
            if self._stopping.wait(min(FIRST_DELAY_S * 2**failures, MAX_DELAY_S)):
                return None
            try:
                self._server.restart()
            except RestartImpossible as error:
                self._give_up(str(error))
                return None
            except (RuntimeError, OSError) as error:
                failures += 1
                log.warning(
                    "Restarting the embedded database failed (%s of %s): %s",
                    failures, MAX_FAILED_RESTARTS, error,
                )
                continue
            log.info(
                "The embedded database is back on %s, %.1f s after it exited.",
                self._server.address, time.monotonic() - down_since,
            )
            return failures
        self._give_up(f"{MAX_FAILED_RESTARTS} restarts in a row failed")
        return None

    def _give_up(self, reason: str) -> None:
        self.lost = (
            f"The embedded database on {self._server.address} could not be restarted: {reason}."
        )
        log.error("%s Stopping.", self.lost)
