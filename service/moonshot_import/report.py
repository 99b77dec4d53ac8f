"""What an import did with each item of the folder, and how it shows its progress."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"


class ItemKind(StrEnum):
    ENDPOINT = "endpoint"
    PROMPT_TEMPLATE = "prompt template"
    ATTACK_MODULE = "attack module settings"
    METRIC = "metric settings"
    SESSION = "session"
    FILE = "file"


@dataclass(frozen=True)
class ItemReport:
    kind: ItemKind
    name: str
    outcome: Outcome
    reason: str = ""
    records: int = 0


@dataclass
class ImportReport:
    """Every item the folder held, in the order they were met, with what became of each."""

    workspace: str
    items: list[ItemReport] = field(default_factory=list)

    def add(
        self, kind: ItemKind, name: str, outcome: Outcome, reason: str = "", records: int = 0
    ) -> None:
        self.items.append(ItemReport(kind, name, outcome, reason, records))

    def of(self, outcome: Outcome) -> list[ItemReport]:
        return [item for item in self.items if item.outcome is outcome]

    @property
    def failed(self) -> bool:
        return bool(self.of(Outcome.FAILED))

    @property
    def changed_nothing(self) -> bool:
        return not self.of(Outcome.IMPORTED)

    @property
    def records(self) -> int:
        return sum(item.records for item in self.of(Outcome.IMPORTED))

    def summary(self) -> str:
        """Plain text: counts, then every item that was not imported and why."""
        imported, skipped, failed = (self.of(outcome) for outcome in Outcome)
        lines = [
            f"Imported {len(imported)} item(s) into workspace {self.workspace} "
            f"({self.records} chat record(s)); skipped {len(skipped)}; failed {len(failed)}."
        ]
        if self.changed_nothing:
            lines.append(
                f"Nothing changed: all that could be imported was already in workspace "
                f"{self.workspace}."
            )
        for item in self.items:
            detail = f" ({item.records} records)" if item.records else ""
            reason = f": {item.reason}" if item.reason else ""
            lines.append(f"  {item.outcome.value:8} {item.kind.value} {item.name}{detail}{reason}")
        return "\n".join(lines)


class Progress(Protocol):
    """Where an import reports how far it is: one phase at a time, each with a total."""

    def begin(self, label: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """Shows nothing (library use and tests)."""

    def begin(self, label: str, total: int) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None

    def end(self) -> None:
        return None
