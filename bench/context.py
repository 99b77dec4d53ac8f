"""What every case is given: the plan, both systems' handles, and where to keep its files."""

import logging
from dataclasses import dataclass
from pathlib import Path

from bench.moonshot.driver import MoonshotDriver
from bench.plan import Plan
from bench.sparring import SparringDatabase

log = logging.getLogger("bench")


@dataclass(frozen=True)
class RunContext:
    plan: Plan
    sparring: SparringDatabase
    # None with --sparring-only: every case then measures Sparring alone.
    moonshot: MoonshotDriver | None
    work_dir: Path
