"""The TUI's callback: turns engine events into messages for the app."""

from __future__ import annotations

from textual.app import App

from benchtui import messages
from engine.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd


class TuiSink(Callback):
    def __init__(self, app: App):
        self.app = app

    def on_run_start(self, event: RunStart) -> None:
        self.app.post_message(messages.RunStarted(event))

    def on_step_end(self, event: StepEnd) -> None:
        self.app.post_message(messages.StepProgress(event))

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.app.post_message(messages.EpochEnded(event))

    def on_run_end(self, event: RunEnd) -> None:
        self.app.post_message(messages.RunEnded(event))

    def log(self, text: str) -> None:
        self.app.post_message(messages.LogLine(text))
