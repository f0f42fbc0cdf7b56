"""What trainers tell the world, and the callback base that listens.

Events are frozen dataclasses of plain numbers, strings and tuples, so they
cross threads safely (the TUI sink posts them as messages). Trainers call
``emit(callbacks, "on_epoch_end", event)`` and know none of their listeners.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

STATUSES = ("ok", "diverged", "failed", "stopped", "pruned")  # pruned: stopped early by ASHA (ray executor)


@dataclass(frozen=True)
class RunStart:
    run_id: str
    epochs: int
    steps_per_epoch: int
    device: str
    config_json: str
    note: str = ""  # e.g. which pretrained weights were used, shown by console sinks
    kind: str = ""  # the experiment kind (engine.kinds), whose metrics sinks show


@dataclass(frozen=True)
class StepEnd:
    """Progress within an epoch; sent at most a few times a second (no loss
    value: reading one would force a device sync every step)."""

    run_id: str
    epoch: int
    step: int
    steps_per_epoch: int


@dataclass(frozen=True)
class EpochEnd:
    run_id: str
    epoch: int
    metrics: tuple[tuple[str, float], ...]  # (name, value): train_loss, val_accuracy, ...
    step_losses: tuple[float, ...]  # training loss of each step in this epoch
    epoch_time: float  # seconds, training and evaluation
    grad_sq_norm: tuple[float, ...] | None = None  # per Linear layer, mean over steps
    # the run's state after this whole epoch (engine.checkpoint), written by the driver as checkpoint.pt;
    # None when there is nothing to resume from (a kind without checkpoints, the last epoch, a cut-short epoch)
    # or nobody to read it (no listener of the run has ``wants_checkpoints``)
    checkpoint: bytes | None = field(default=None, repr=False, compare=False)

    def metric(self, name: str) -> float:
        return dict(self.metrics)[name]


@dataclass(frozen=True)
class RunEnd:
    run_id: str
    status: str  # one of STATUSES
    message: str
    wall_time: float


class Callback:
    """Base class: every hook does nothing. Subclasses override what they need.

    ``wants_checkpoints``: a listener that keeps or forwards ``EpochEnd.checkpoint``
    says so; where none of a run's listeners does, the run's state is not
    packed each epoch (a few milliseconds an epoch that nothing would read)."""

    wants_checkpoints = False

    def on_run_start(self, event: RunStart) -> None: ...

    def on_step_end(self, event: StepEnd) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...

    def on_run_end(self, event: RunEnd) -> None: ...


def emit(callbacks: Iterable[Callback], hook: str, event: object) -> None:
    for cb in callbacks:
        getattr(cb, hook)(event)


class StepTicker:
    """Per-step bookkeeping every trainer shares: the cooperative stop flag
    and progress events at most every ``every`` seconds."""

    def __init__(self, callbacks: list[Callback], run_id: str, stop: threading.Event | None, every: float = 0.25):
        self.callbacks, self.run_id, self.stop, self.every = callbacks, run_id, stop, every
        self.last = time.perf_counter()

    def tick(self, epoch: int, step: int, steps: int) -> bool:
        """Call after each optimiser step (0-based ``step``); True when the run must stop."""
        if self.stop is not None and self.stop.is_set():
            return True
        now = time.perf_counter()
        if now - self.last > self.every:
            self.last = now
            emit(self.callbacks, "on_step_end", StepEnd(self.run_id, epoch, step + 1, steps))
        return False


class Recorder(Callback):
    """Keeps every event; for tests and scripts."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def on_run_start(self, event: RunStart) -> None:
        self.events.append(event)

    def on_step_end(self, event: StepEnd) -> None:
        self.events.append(event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.events.append(event)

    def on_run_end(self, event: RunEnd) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]
