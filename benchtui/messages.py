"""Messages that carry engine events into the TUI. The TUI sink posts them
from the training thread (``post_message`` is thread-safe and never blocks)."""

from __future__ import annotations

from textual.message import Message

from engine.events import EpochEnd, RunEnd, RunStart, StepEnd


class RunStarted(Message):
    def __init__(self, event: RunStart) -> None:
        super().__init__()
        self.event = event


class StepProgress(Message):
    def __init__(self, event: StepEnd) -> None:
        super().__init__()
        self.event = event


class EpochEnded(Message):
    def __init__(self, event: EpochEnd) -> None:
        super().__init__()
        self.event = event


class RunEnded(Message):
    def __init__(self, event: RunEnd) -> None:
        super().__init__()
        self.event = event


class LogLine(Message):
    def __init__(self, text: str, style: str = "") -> None:
        super().__init__()
        self.text, self.style = text, style


class SweepStarted(Message):
    """A new sweep: the Monitor shows only its runs."""


class SweepPlanned(Message):
    """The sweep's plan is made (in the worker): its name and how many runs start."""

    def __init__(self, name: str, runs: int) -> None:
        super().__init__()
        self.name, self.runs = name, runs


class SweepFinished(Message):
    def __init__(self, counts: dict[str, int], problems: list[str], stopped: bool) -> None:
        super().__init__()
        self.counts, self.problems, self.stopped = counts, problems, stopped
