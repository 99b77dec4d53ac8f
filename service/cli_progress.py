"""The progress bar of the `sparring` commands that move data: rich, on stderr, one task at a
time, and silent when it is not to be shown."""

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text


class ProgressBar:
    """One bar per phase (`begin` ... `end`); `unit` names what is counted and adds its rate."""

    def __init__(self, *, shown: bool = True, unit: str | None = None) -> None:
        self._bar: Progress | None = _new_bar(unit) if shown else None
        self._task: TaskID | None = None

    def __enter__(self) -> "ProgressBar":
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def begin(self, label: str, total: int | None) -> None:
        """A new phase of `total` steps (None: not known)."""
        if self._bar is not None:
            self._task = self._bar.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)

    def update(self, completed: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=completed)

    def end(self) -> None:
        """The phase is over: it shows full even if it counted fewer steps than announced."""
        if self._bar is not None and self._task is not None:
            (task,) = [task for task in self._bar.tasks if task.id == self._task]
            if task.total is not None:
                self._bar.update(self._task, completed=task.total)
        self._task = None


def _new_bar(unit: str | None) -> "Progress":
    # rich is imported only when a bar is shown: `sparring --help` stays light.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: "Task") -> "Text":
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s")

    counted = [TextColumn(unit), Rate()] if unit else []
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *counted,
        TimeElapsedColumn(), console=Console(stderr=True), transient=False,
    )
