"""Figures: one measured quantity on one or both systems, and how far ahead Sparring is."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.commands import Counted
from bench.timing import summarize

Unit = Literal["ms", "records/s", "req/s", "users served", "prompts/s"]


@dataclass
class Figure:
    key: str
    case: str
    measure: str
    size: str
    unit: Unit
    sparring: dict[str, Any] | None
    moonshot: dict[str, Any] | None
    # Above 1 when Sparring does better: Moonshot's time over Sparring's, or Sparring's rate
    # over Moonshot's. None when only one system was measured.
    advantage: float | None = None
    note: str = ""
    # Database commands Sparring sent per operation (a PyMongo command listener), when counted.
    commands: float | None = None
    # The server's own floor for those commands (commands/op × its time per trivial command,
    # measured in the same run at the same data size), and what the measured time adds to the
    # time the operation's own commands took (`database_ms`): ours, not the database's.
    floor_ms: float | None = None
    gap_ms: float | None = None
    # `commands` by command name, where the case counted them so.
    command_mix: dict[str, float] | None = None
    # Milliseconds per operation with at least one of its commands in flight (sent, not yet
    # answered and decoded), where timed: the database's share of the work at that size.
    database_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CaseResult:
    """What one case produced: its figures, and series for the plots."""

    figures: list[Figure] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def timed(
    case: str,
    name: str,
    measure: str,
    size: str,
    sparring: list[float] | None,
    moonshot: list[float] | None,
    note: str = "",
    commands: float | Counted | None = None,
) -> Figure:
    """A figure of durations in seconds per call, summarized in milliseconds."""
    ours = summarize(sparring) if sparring else None
    theirs = summarize(moonshot) if moonshot else None
    advantage = None
    if ours and theirs and ours["median_ms"] > 0:
        advantage = theirs["median_ms"] / ours["median_ms"]
    return Figure(
        key=f"{case}.{name}.{size}", case=case, measure=measure, size=size, unit="ms",
        sparring=ours, moonshot=theirs, advantage=advantage, note=note,
        commands=_total(commands), command_mix=_mix(commands), database_ms=_database(commands),
    )


def rated(
    case: str,
    name: str,
    measure: str,
    size: str,
    unit: Unit,
    sparring: dict[str, Any] | None,
    moonshot: dict[str, Any] | None,
    note: str = "",
    commands: float | Counted | None = None,
) -> Figure:
    """A figure of rates; each side carries its rate under `per_s`."""
    advantage = None
    if sparring and moonshot and moonshot["per_s"] > 0:
        advantage = sparring["per_s"] / moonshot["per_s"]
    return Figure(
        key=f"{case}.{name}.{size}", case=case, measure=measure, size=size, unit=unit,
        sparring=sparring, moonshot=moonshot, advantage=advantage, note=note,
        commands=_total(commands), command_mix=_mix(commands), database_ms=_database(commands),
    )


def _total(commands: float | Counted | None) -> float | None:
    return commands.per_call if isinstance(commands, Counted) else commands


def _mix(commands: float | Counted | None) -> dict[str, float] | None:
    return commands.by_name if isinstance(commands, Counted) else None


def _database(commands: float | Counted | None) -> float | None:
    return commands.database_ms if isinstance(commands, Counted) else None


def rate_of(records: int, seconds: float, samples_s: list[float] | None = None) -> dict[str, Any]:
    """Records per second over `seconds`, with the per-call summary when calls were timed."""
    rate: dict[str, Any] = {"per_s": records / seconds if seconds > 0 else 0.0,
                            "records": records, "seconds": seconds}
    if samples_s:
        rate.update(summarize(samples_s))
    return rate
