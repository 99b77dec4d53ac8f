"""The issue's targets, checked against the figures of one run."""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.figures import Figure


@dataclass
class TargetCheck:
    target: str
    measured: str
    # None when the run lacks a figure the target needs (e.g. --sparring-only).
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Figures = dict[str, Figure]


def _median(figure: Figure, side: str) -> float:
    return getattr(figure, side)["median_ms"]


def _advantage_at_least(key: str, minimum: float, text: str) -> Callable[[Figures], TargetCheck]:
    def check(figures: Figures) -> TargetCheck:
        figure = figures.get(key)
        if figure is None or figure.advantage is None:
            return TargetCheck(text, "not measured", None)
        return TargetCheck(text, f"{figure.advantage:.1f}×", figure.advantage >= minimum)

    return check


def _page_within_small_list(figures: Figures, levels: list[int]) -> TargetCheck:
    text = "paginated list (page of 100) at the largest N within 3× of the full list at N=10"
    page = figures.get(f"sessions.list_metadata_page.N={max(levels)}")
    small = figures.get(f"sessions.list_metadata.N={min(levels)}")
    if page is None or small is None:
        return TargetCheck(text, "not measured", None)
    ratio = _median(page, "sparring") / _median(small, "sparring")
    return TargetCheck(text, f"{ratio:.2f}×", ratio <= 3)


def _http_list(figures: Figures) -> TargetCheck:
    text = "GET /api/v1/sessions (N=100, 32 clients): ≥100× Moonshot's req/s, p99 < 200 ms"
    figure = next((f for f in figures.values() if f.key.startswith("http.list_sessions.")), None)
    if figure is None or figure.sparring is None:
        return TargetCheck(text, "not measured", None)
    p99 = figure.sparring["p99_ms"]
    if figure.advantage is None:
        return TargetCheck(text, f"p99 {p99:.0f} ms (no Moonshot figure)", None)
    return TargetCheck(
        text, f"{figure.advantage:.0f}×, p99 {p99:.0f} ms", figure.advantage >= 100 and p99 < 200
    )


def _page_flat(figures: Figures) -> TargetCheck:
    text = "the same page cost at K=100 and at the largest K (within 1.5×)"
    pages = [f for f in figures.values() if f.case in ("chats", "appends") and ".page." in f.key]
    if len(pages) < 2:
        return TargetCheck(text, "not measured", None)
    smallest = min(pages, key=lambda f: int(f.size.split("=")[1]))
    largest = max(pages, key=lambda f: int(f.size.split("=")[1]))
    ratio = _median(largest, "sparring") / _median(smallest, "sparring")
    return TargetCheck(
        text, f"{largest.size}: {ratio:.2f}× the cost at {smallest.size}", ratio <= 1.5
    )


def _batched_rate(figures: Figures) -> TargetCheck:
    text = "batched appends: records/s at least Moonshot's"
    batched = [f for f in figures.values() if f.key.startswith("appends.batched.")]
    if not batched or any(f.advantage is None for f in batched):
        return TargetCheck(text, "not measured", None)
    worst = min(batched, key=lambda f: f.advantage or 0)
    return TargetCheck(text, f"{worst.advantage:.1f}× ({worst.size}, the smallest batch)",
                       (worst.advantage or 0) >= 1)


def _single_append(figures: Figures) -> TargetCheck:
    text = "a single append within 1.5× of Moonshot's"
    figure = next((f for f in figures.values() if f.key.startswith("appends.single.")), None)
    if figure is None or figure.advantage is None:
        return TargetCheck(text, "not measured", None)
    slower = 1 / figure.advantage
    return TargetCheck(text, f"{slower:.2f}× Moonshot's time", slower <= 1.5)


def _fill_flat(figures: Figures) -> TargetCheck:
    text = (
        "appends: the last 1,000 records of the fill at ≥0.9× the rate of the first 1,000 "
        "(judged against 1,000 first appends to an empty session, made alternately with them)"
    )
    found = {
        name: next((f for f in figures.values() if f.key.startswith(f"appends.{name}.")), None)
        for name in ("fill_first", "fill_last", "fill_control")
    }
    if any(figure is None for figure in found.values()):
        return TargetCheck(text, "not measured", None)
    last = found["fill_last"].sparring["per_s"]
    against_control = last / found["fill_control"].sparring["per_s"]
    against_first = last / found["fill_first"].sparring["per_s"]
    return TargetCheck(
        text,
        f"{against_control:.2f}× at {found['fill_last'].size} "
        f"({against_first:.2f}× the first 1,000 of the fill, measured at its start)",
        against_control >= 0.9,
    )


def _fanout(figures: Figures) -> TargetCheck:
    text = "fan-out to 10 endpoints of 200 ms: at most 1.2× one call"
    many = next((f for f in figures.values() if f.key.startswith("fanout.many.")), None)
    one = figures.get("fanout.one.endpoints=1")
    if many is None or one is None:
        return TargetCheck(text, "not measured", None)
    ratio = _median(many, "sparring") / _median(one, "sparring")
    return TargetCheck(text, f"{ratio:.2f}× ({many.size})", ratio <= 1.2)


def _users(figures: Figures) -> TargetCheck:
    text = "many users, each on their own session: all served, 0 errors, every write read back"
    figure = next((f for f in figures.values() if f.key.startswith("users.prompt.")), None)
    if figure is None or figure.sparring is None:
        return TargetCheck(text, "not measured", None)
    ours = figure.sparring
    met = ours["served"] == ours["users"] and ours["errors"] == 0 and ours["read_back"] == ours[
        "users"
    ]
    return TargetCheck(
        text,
        f"{ours['served']}/{ours['users']} served, {ours['errors']} errors, "
        f"{ours['read_back']} read back",
        met,
    )


def _redteam(figures: Figures) -> TargetCheck:
    text = (
        "charswap_attack run, 100 attack prompts over 10 endpoints of 200 ms: ≥5× Moonshot's "
        "prompts/s (in process and through Redis)"
    )
    runs = [f for f in figures.values() if f.case == "redteam"]
    if not runs or any(f.advantage is None for f in runs):
        return TargetCheck(text, "not measured", None)
    worst = min(runs, key=lambda f: f.advantage or 0)
    measured = ", ".join(f"{f.key.split('.')[1]} {f.advantage:.1f}×" for f in runs)
    return TargetCheck(text, f"{measured} ({worst.size})", (worst.advantage or 0) >= 5)


def check_all(figures: list[Figure], levels: tuple[int, ...]) -> list[TargetCheck]:
    by_key = {figure.key: figure for figure in figures}
    largest = max(levels)
    return [
        _advantage_at_least(
            f"sessions.list_metadata.N={largest}", 100,
            f"list all session metadata at N={largest}: ≥100× faster",
        )(by_key),
        _page_within_small_list(by_key, list(levels)),
        _advantage_at_least(
            f"sessions.list_names.N={largest}", 200, f"list names at N={largest}: ≥200× faster"
        )(by_key),
        _http_list(by_key),
        _advantage_at_least(
            next((k for k in by_key if k.startswith("http.get_session.")), "http.get_session"),
            5, "GET /api/v1/sessions/{id}?include_history=false: ≥5× Moonshot's req/s",
        )(by_key),
        _advantage_at_least(
            "chats.page.K=10000", 20,
            "a page of 100 records ≥20× faster than Moonshot's full read of 10,000",
        )(by_key),
        _page_flat(by_key),
        _advantage_at_least(
            "chats.read_all.K=10000", 1, "reading all 10,000 records no slower than Moonshot"
        )(by_key),
        _batched_rate(by_key),
        _single_append(by_key),
        _fill_flat(by_key),
        _fanout(by_key),
        _users(by_key),
        _redteam(by_key),
    ]
