"""Writing a run's figures: the JSON file of every figure and the Markdown table."""

import json
import math
from pathlib import Path
from typing import Any

from bench.figures import Figure
from bench.targets import TargetCheck


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _side(figure: Figure, side: dict[str, Any] | None) -> str:
    if side is None:
        return "–"
    if figure.unit == "ms":
        return f"{_number(side['median_ms'])} ms (p90 {_number(side['p90_ms'])})"
    if figure.unit == "req/s":
        return (
            f"{_number(side['per_s'])} req/s, p50 {_number(side['p50_ms'])} ms, "
            f"p99 {_number(side['p99_ms'])} ms, {side['errors']} errors"
        )
    if figure.unit == "prompts/s":
        return f"{_number(side['per_s'])} prompts/s, {_number(side['seconds'])} s wall"
    if "served" in side:
        return (
            f"{side['served']}/{side['users']} served, {side['errors']} errors, "
            f"{side['read_back']} read back as written"
        )
    return f"{_number(side['per_s'])} records/s"


def markdown(
    figures: list[Figure], checks: list[TargetCheck], run: dict[str, Any], notes: list[str]
) -> str:
    machine = run["machine"]
    lines = [
        f"# Sparring vs Moonshot 0.7.6 — {run['mode']} run, {run['started']}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['os']}, Python {machine['python']}; load average at start "
        f"{_loads(machine['load_average'])}.",
        f"Sparring's database: {run['database']}. Run time: {run['duration_s']:.0f} s.",
        "",
        "Advantage: Moonshot's time over Sparring's, or Sparring's rate over Moonshot's "
        "(above 1: Sparring is ahead). Commands/op: database commands Sparring sends per "
        "operation (a PyMongo command listener; – where not counted). Floor: those commands "
        "at the database server's own time for a trivial command of their kind (a find or an "
        "update by `_id` of a small document in the case's collection), measured in the same run "
        "right after the case, at its data size: what the round trips alone cost. Database: the "
        "time per operation with at least one of its own commands in flight (sent and not yet "
        "answered and decoded), the server's time for that very work at that size. Gap: "
        "Sparring's time per operation (for a rate, its inverse) minus the database's, what our "
        "code adds. For the HTTP load figures, the database time is that of the same request "
        "sent alone.",
        "",
        "| case | measure | size | Sparring | commands/op | floor | database | gap | Moonshot "
        "| advantage |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for figure in figures:
        advantage = "–" if figure.advantage is None else f"{_number(figure.advantage)}×"
        measure = figure.measure + (f" ({figure.note})" if figure.note else "")
        lines.append(
            f"| {figure.case} | {measure} | {figure.size} | {_side(figure, figure.sparring)} | "
            f"{_number(figure.commands, 1)} | {_milliseconds(figure.floor_ms)} | "
            f"{_milliseconds(figure.database_ms)} | {_milliseconds(figure.gap_ms)} | "
            f"{_side(figure, figure.moonshot)} | {advantage} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for check in checks:
        met = {True: "yes", False: "**no**", None: "n/a"}[check.met]
        lines.append(f"| {check.target} | {check.measured} | {met} |")
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{_number(value)} ms"


def _loads(loads: list[float] | None) -> str:
    return "unknown" if loads is None else " / ".join(f"{load:.2f}" for load in loads)


def write(
    out_dir: Path,
    figures: list[Figure],
    checks: list[TargetCheck],
    run: dict[str, Any],
    series: dict[str, Any],
    notes: list[str],
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(
        json.dumps(
            _finite(
                {
                    **run,
                    "figures": [figure.to_dict() for figure in figures],
                    "targets": [check.to_dict() for check in checks],
                    "series": series,
                    "notes": notes,
                }
            ),
            indent=2,
            allow_nan=False,
            default=_jsonable,
        )
    )
    markdown_path = out_dir / "results.md"
    markdown_path.write_text(markdown(figures, checks, run, notes))
    return json_path, markdown_path


def _finite(value: Any) -> Any:
    """The same structure with NaN (a figure without samples) written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
