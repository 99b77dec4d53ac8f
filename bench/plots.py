"""PNG plots of a run (matplotlib, from the optional `bench` extra)."""

from pathlib import Path
from typing import Any

PLOTTED_CALLS = {
    "list_metadata": "list all metadata",
    "list_names": "list names",
    "load": "load one",
    "update_system_prompt": "update system prompt",
    "delete": "delete one",
    "list_metadata_page": "list metadata, page of 100",
}


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed: pip install 'sparring[bench]'."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:
        raise PlotsUnavailable(
            "Plots need matplotlib: pip install -e '.[bench]'"
        ) from error
    # Files only: no display is needed or wanted.
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def cost_per_call(series: dict[str, Any], path: Path) -> Path:
    """Median cost per call against N, both systems, log axes."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(8, 5.5))
    levels = series["levels"]
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, label) in enumerate(PLOTTED_CALLS.items()):
        colour = colours[index % len(colours)]
        if name in series["sparring"]:
            axes.plot(levels, series["sparring"][name], "o-", color=colour,
                      label=f"Sparring: {label}")
        if series.get("moonshot") and name in series["moonshot"]:
            axes.plot(levels, series["moonshot"][name], "s--", color=colour,
                      label=f"Moonshot: {label}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("sessions (N)")
    axes.set_ylabel("median cost per call (ms)")
    axes.set_title("Session API: cost per call vs number of sessions")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path


def fill_rate(windows: list[dict[str, Any]], path: Path, moonshot_per_s: float | None) -> Path:
    """Append rate (records/s) of each window against the records already stored."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    for mode, marker in (("single", "o"), ("batched", ".")):
        points = [window for window in windows if window["mode"] == mode]
        if points:
            axes.plot([p["stored"] for p in points], [p["per_s"] for p in points], marker,
                      label=f"Sparring, {mode} appends")
    if moonshot_per_s:
        axes.axhline(moonshot_per_s, linestyle="--", color="grey",
                     label="Moonshot, single appends")
    axes.set_yscale("log")
    axes.set_xlabel("records stored in the session")
    axes.set_ylabel("appends per second")
    axes.set_title("Append rate while one session fills")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
