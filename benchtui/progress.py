"""Console sinks for ``--no-ui``: rich progress bars on a terminal, plain
one-line-per-epoch logs otherwise (CI)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd
from engine.kinds import KINDS


def metrics_text(kind_name: str, metrics: dict[str, float], sep: str = " ") -> str:
    """The metrics the run's kind shows, as ``val_acc 0.812 test_acc 0.790``
    (every metric of the event when the kind is unknown)."""
    kind = KINDS.get(kind_name)
    names = [n for n in kind.shown if n in metrics] if kind is not None else list(metrics)
    parts = []
    for name in names:
        metric = kind.metric(name) if kind is not None else None
        label = metric.short.replace(" ", "_") if metric else name
        value = metric.format(metrics[name]) if metric else f"{metrics[name]:.4g}"
        unit = f" {metric.unit}" if metric is not None and metric.unit else ""
        parts.append(f"{label}{sep}{value}{unit}")
    return " ".join(parts)


class PlainLog(Callback):
    """One line per epoch and per run end, flushed at once."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.epochs: dict[str, int] = {}
        self.kinds: dict[str, str] = {}

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_run_start(self, event: RunStart) -> None:
        self.epochs[event.run_id] = event.epochs
        self.kinds[event.run_id] = event.kind
        self.line(f"[{event.run_id}] start: {event.epochs} epochs x {event.steps_per_epoch} steps on {event.device}")
        if event.note:
            self.line(f"[{event.run_id}] {event.note}")

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.line(
            f"[{event.run_id}] epoch {event.epoch}/{self.epochs.get(event.run_id, '?')} "
            f"{metrics_text(self.kinds.get(event.run_id, ''), dict(event.metrics))} ({event.epoch_time:.2f}s)"
        )

    def on_run_end(self, event: RunEnd) -> None:
        note = f": {event.message}" if event.message else ""
        self.line(f"[{event.run_id}] {event.status} in {event.wall_time:.1f}s{note}")


class RichProgress(Callback):
    """One bar per run with its latest losses and an ETA."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.tasks: dict[str, int] = {}
        self.steps: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> "RichProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def log(self, text: str) -> None:
        self.console.log(text)

    def on_run_start(self, event: RunStart) -> None:
        with self.lock:
            self.steps[event.run_id] = event.steps_per_epoch
            self.kinds[event.run_id] = event.kind
            self.tasks[event.run_id] = self.progress.add_task(
                event.run_id, total=max(1, event.epochs * event.steps_per_epoch), metrics=""
            )
        if event.note:
            self.console.log(f"{event.run_id}: {event.note}")

    def on_step_end(self, event: StepEnd) -> None:
        done = (event.epoch - 1) * event.steps_per_epoch + event.step
        self.progress.update(self.tasks[event.run_id], completed=done)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.progress.update(
            self.tasks[event.run_id],
            completed=max(1, event.epoch * self.steps[event.run_id]),
            metrics=metrics_text(self.kinds.get(event.run_id, ""), dict(event.metrics)),
        )

    def on_run_end(self, event: RunEnd) -> None:
        task = self.tasks[event.run_id]
        colour = {"ok": "green", "diverged": "yellow", "pruned": "magenta"}.get(event.status, "red")
        self.progress.update(task, description=f"[{colour}]{event.run_id} {event.status}[/]")
        if event.message:
            self.console.log(f"{event.run_id}: {event.status}: {event.message}")
