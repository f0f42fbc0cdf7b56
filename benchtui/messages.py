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
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SweepFinished(Message):
    def __init__(self, counts: dict[str, int], problems: list[str], stopped: bool) -> None:
        super().__init__()
        self.counts, self.problems, self.stopped = counts, problems, stopped
