"""What happened to each unit of work in a batch (a PDF built, a message sent): one shape for every front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One job's result. `error` is for people (one line per problem); `trace` is set only for a bug in leafgen."""

    status: str  # builds: built | skipped | refused | failed
    path: str = ""  # what it was about, e.g. the PDF's path inside the out folder
    entry: dict | None = None  # the manifest entry, for a PDF on disk
    error: str = ""
    trace: str = ""  # the traceback of an unexpected exception (shown with --debug), never of a user error
    reads: Any = None  # project.Reads: what the render read, for the build cache

    @property
    def bug(self) -> bool:
        return bool(self.trace)


BUILD_STATUSES = ("built", "skipped", "refused", "failed")


@dataclass
class Summary:
    """Every outcome of a batch, with what the batch itself has to say (warnings, PDFs it removed)."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # out-folder paths of PDFs withdrawn after a refusal or failure
    statuses: tuple[str, ...] = BUILD_STATUSES
    bad: tuple[str, ...] = ("refused", "failed")

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not any(self.count(s) for s in self.bad)

    @property
    def bugs(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.bug]

    def line(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in self.statuses]
        seconds = f"{self.seconds:.1f}" if self.seconds >= 0.1 else f"{self.seconds:.2f}"
        return f"{', '.join(parts)} in {seconds} s"
