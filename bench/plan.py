"""The sizes, counts and time limits of a run: tiny (smoke test), quick (default) or full."""

from dataclasses import dataclass
from typing import Literal

from bench.timing import Bound

Mode = Literal["tiny", "quick", "full"]


@dataclass(frozen=True)
class Plan:
    mode: Mode
    # Sessions case: the N at which every call is timed, and how long each call is sampled.
    session_levels: tuple[int, ...]
    calls: Bound
    # Chats case: records in one endpoint, each appended on its own, then read back.
    chat_sizes: tuple[int, ...]
    page_size: int
    # Appends case (Sparring only): one session filled to `fill_records`, with single appends
    # timed in `fill_windows` windows of `fill_window` records spread over the fill.
    fill_records: int
    fill_window: int
    fill_windows: int
    batch_sizes: tuple[int, ...]
    batch_records: int
    # HTTP cases: sessions listed, concurrent clients, and seconds of load per route.
    http_sessions: int
    http_clients: int
    http_seconds: float
    http_drain_seconds: float
    # Many users: clients each prompting its own session at once.
    users: int
    # Fan-out: endpoints of `fanout_latency_s` each, against one endpoint.
    fanout_endpoints: int
    fanout_latency_s: float
    fanout_repeats: int
    # The longest any one child process (a case on Moonshot, a server start) may take.
    child_timeout_s: float
    # Import case: records of the session Moonshot makes and Sparring imports.
    import_records: int
    # Redteam case: one charswap_attack run of `redteam_prompts` attack prompts over
    # `redteam_endpoints` endpoints answering in `redteam_latency_s`.
    redteam_prompts: int
    redteam_endpoints: int
    redteam_latency_s: float


TINY = Plan(
    mode="tiny",
    session_levels=(3, 10),
    calls=Bound(count=3, seconds=1.0),
    chat_sizes=(20, 150),
    page_size=100,
    fill_records=2_000,
    fill_window=100,
    fill_windows=3,
    batch_sizes=(10, 100),
    batch_records=200,
    http_sessions=5,
    http_clients=4,
    http_seconds=1.0,
    http_drain_seconds=5.0,
    users=5,
    fanout_endpoints=3,
    fanout_latency_s=0.05,
    fanout_repeats=2,
    child_timeout_s=120.0,
    import_records=2_000,
    redteam_prompts=4,
    redteam_endpoints=3,
    redteam_latency_s=0.05,
)

QUICK = Plan(
    mode="quick",
    session_levels=(10, 100, 1_000),
    calls=Bound(count=20, seconds=5.0),
    chat_sizes=(100, 10_000),
    page_size=100,
    fill_records=100_000,
    fill_window=1_000,
    fill_windows=6,
    batch_sizes=(10, 100),
    batch_records=2_000,
    http_sessions=100,
    http_clients=32,
    http_seconds=10.0,
    http_drain_seconds=20.0,
    users=100,
    fanout_endpoints=10,
    fanout_latency_s=0.2,
    fanout_repeats=5,
    child_timeout_s=600.0,
    import_records=10_000,
    redteam_prompts=100,
    redteam_endpoints=10,
    redteam_latency_s=0.2,
)

FULL = Plan(
    mode="full",
    session_levels=(10, 100, 1_000),
    calls=Bound(count=50, seconds=20.0),
    chat_sizes=(100, 10_000),
    page_size=100,
    fill_records=1_000_000,
    fill_window=1_000,
    fill_windows=11,
    batch_sizes=(10, 100),
    batch_records=10_000,
    http_sessions=100,
    http_clients=32,
    http_seconds=30.0,
    http_drain_seconds=30.0,
    users=100,
    fanout_endpoints=10,
    fanout_latency_s=0.2,
    fanout_repeats=10,
    child_timeout_s=1_800.0,
    import_records=100_000,
    redteam_prompts=100,
    redteam_endpoints=10,
    redteam_latency_s=0.2,
)

PLANS: dict[Mode, Plan] = {"tiny": TINY, "quick": QUICK, "full": FULL}
