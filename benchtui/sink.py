"""The TUI's callback: turns engine events into messages for the app."""

from __future__ import annotations

from textual.app import App
from textual.message_pump import MessagePump

from benchtui import messages
from engine.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd


class TuiSink(Callback):
    """Posts each event to ``target`` (the Monitor screen); ``post_message``
    is thread-safe and never blocks the training thread."""

    def __init__(self, app: App, target: MessagePump | None = None):
        self.app = app
        self.target = target if target is not None else app

    def on_run_start(self, event: RunStart) -> None:
        self.target.post_message(messages.RunStarted(event))

    def on_step_end(self, event: StepEnd) -> None:
        self.target.post_message(messages.StepProgress(event))

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.target.post_message(messages.EpochEnded(event))

    def on_run_end(self, event: RunEnd) -> None:
        self.target.post_message(messages.RunEnded(event))

    def log(self, text: str) -> None:
        self.target.post_message(messages.LogLine(text))
