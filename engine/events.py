"""What trainers tell the world, and the callback base that listens.

Events are frozen dataclasses of plain numbers, strings and tuples, so they
cross threads safely (the TUI sink posts them as messages). Trainers call
``emit(callbacks, "on_epoch_end", event)`` and know none of their listeners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

STATUSES = ("ok", "diverged", "failed", "stopped")


@dataclass(frozen=True)
class RunStart:
    run_id: str
    epochs: int
    steps_per_epoch: int
    device: str
    config_json: str
    note: str = ""  # e.g. which pretrained weights were used, shown by console sinks


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

    def metric(self, name: str) -> float:
        return dict(self.metrics)[name]


@dataclass(frozen=True)
class RunEnd:
    run_id: str
    status: str  # one of STATUSES
    message: str
    wall_time: float


class Callback:
    """Base class: every hook does nothing. Subclasses override what they need."""

    def on_run_start(self, event: RunStart) -> None: ...

    def on_step_end(self, event: StepEnd) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...

    def on_run_end(self, event: RunEnd) -> None: ...


def emit(callbacks: Iterable[Callback], hook: str, event: object) -> None:
    for cb in callbacks:
        getattr(cb, hook)(event)


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
