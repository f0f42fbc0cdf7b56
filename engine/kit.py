"""The trainer kit: what every kind's trainer shares.

- ``OptimConfig`` / ``SystemConfig``: the base optimiser and system fields a
  kind's config extends (dataclass inheritance; a kind may override a
  default or add fields).
- ``check_common``: the config checks every kind runs first.
- ``cpu_threads``: one rule for every kind: ``system.threads = 0`` means all
  the cores torch sees; any other number is used as given.
- ``RunSession``: handed to a kind's ``fit``; it emits ``RunStart``, per-step
  progress and the stop check, ``EpochEnd``, and builds the history from those
  same events (the one history: the run writer builds it the same way).
- ``run_fit``: wraps a kind's ``fit`` so that ``RunEnd`` always fires with the
  right status (a ``BenchError`` or any exception inside ``fit`` ends the run
  as ``failed``; it never escapes past ``on_run_end``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from engine.config import to_dict
from engine.errors import BenchError
from engine.events import Callback, EpochEnd, RunEnd, RunStart, StepTicker, emit


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class OptimConfig:
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    batch_size: int = field(default=256, metadata={"help": "examples per step"})
    epochs: int = field(default=50, metadata={"help": "passes over the training split"})


@dataclass(frozen=True)
class SystemConfig:
    seed: int = field(default=42, metadata={"help": "seeds numpy and torch (init and batch order)"})
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    threads: int = field(default=0, metadata={"help": "CPU threads for torch; 0 = every core torch sees"})


def check_common(cfg: Any) -> None:
    """Checks that hold for every kind whose config has these fields."""
    optim, system = getattr(cfg, "optim", None), getattr(cfg, "system", None)
    if optim is not None:
        if getattr(optim, "batch_size", 1) < 1:
            raise BenchError(f"optim.batch_size must be at least 1 (got {optim.batch_size})", key="optim.batch_size")
        if getattr(optim, "epochs", 1) < 1:
            raise BenchError(f"optim.epochs must be at least 1 (got {optim.epochs})", key="optim.epochs")
        lr = getattr(optim, "lr", 1.0)
        if not (lr > 0 and math.isfinite(lr)):
            raise BenchError(f"optim.lr must be a positive finite number (got {lr})", key="optim.lr")
    if system is not None and getattr(system, "threads", 0) < 0:
        raise BenchError(f"system.threads must be 0 (every core) or more (got {system.threads})", key="system.threads")


@contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads (0 = leave torch's count, every core),
    then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -------------------------------------------------------------------- history
class History(Callback):
    """A run's history built from its events: per epoch every metric, the
    epoch time, every step's loss; iterations per epoch and wall time."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def on_run_start(self, event: RunStart) -> None:
        self.data["iterations_per_epoch"] = event.steps_per_epoch

    def on_epoch_end(self, event: EpochEnd) -> None:
        h = self.data
        h.setdefault("epoch", []).append(event.epoch)
        for name, value in event.metrics:
            h.setdefault(name, []).append(value)
        h.setdefault("step_loss", []).extend(event.step_losses)
        h.setdefault("epoch_time", []).append(event.epoch_time)
        if event.grad_sq_norm is not None:
            h.setdefault("grad_sq_norm", []).append(list(event.grad_sq_norm))

    def on_run_end(self, event: RunEnd) -> None:
        self.data["wall_time"] = event.wall_time


def save_weights(state: Any, run_dir: Any) -> list[str]:
    """A run's weights (a CPU state dict) as ``model.pt``, written atomically;
    the artefact list to return from ``save_artifacts`` (empty: nothing kept)."""
    if state is None:
        return []
    import torch

    from engine.io import atomic_path

    with atomic_path(Path(run_dir) / "model.pt") as tmp:
        torch.save(state, tmp)
    return ["model.pt"]


# -------------------------------------------------------------------- session
@dataclass
class Fitted:
    """What a kind's ``fit`` returns: how it ended and what it keeps."""

    status: str = "ok"  # ok | diverged | stopped
    message: str = ""
    model: Any = None  # saved by the kind's save_artifacts (None: nothing to keep)
    extra: dict = field(default_factory=dict)  # more fields for run.json (weights, predictions)


@dataclass
class FitResult:
    status: str
    message: str
    history: dict
    model: Any
    extra: dict = field(default_factory=dict)


class RunSession:
    """One run's channel to the world, handed to a kind's ``fit``."""

    def __init__(self, kind: str, run_id: str, config: Any, callbacks: Iterable[Callback] = (),
                 stop: threading.Event | None = None):
        self.kind, self.run_id, self.config, self.stop_event = kind, run_id, config, stop
        self.history = History()
        self.callbacks: list[Callback] = [self.history, *callbacks]
        self.started = False
        self._ticker = StepTicker(self.callbacks, run_id, stop)

    def start(self, epochs: int, steps_per_epoch: int, device: Any, note: str = "") -> None:
        self.started = True
        emit(self.callbacks, "on_run_start", RunStart(self.run_id, epochs, steps_per_epoch, str(device),
                                                       json.dumps(to_dict(self.config)), note, self.kind))

    def tick(self, epoch: int, step: int, steps: int) -> bool:
        """After each optimiser step (0-based ``step``): True when the run must stop."""
        return self._ticker.tick(epoch, step, steps)

    @property
    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def epoch_end(self, epoch: int, metrics: dict[str, float], step_losses: Iterable[float] = (),
                  seconds: float = 0.0, grad_sq_norm: Iterable[float] | None = None) -> bool:
        """Record one epoch; False when a loss is NaN or infinite (the run diverged)."""
        step_losses = tuple(float(v) for v in step_losses)
        values = tuple((k, float(v)) for k, v in metrics.items())
        emit(self.callbacks, "on_epoch_end", EpochEnd(self.run_id, epoch, values, step_losses, seconds,
                                                      tuple(grad_sq_norm) if grad_sq_norm is not None else None))
        # diverged: a training step's loss, or a loss measured on held-out data, is not finite
        watched = [v for k, v in values if k.endswith("loss") and not k.startswith(("train_", "test_"))]
        return all(math.isfinite(v) for v in watched + list(step_losses))


def run_fit(kind: Any, cfg: Any, data: Any, callbacks: Iterable[Callback] = (),
            stop: threading.Event | None = None, run_id: str = "run") -> FitResult:
    """Train one run with ``kind.fit(cfg, data, session)``; ``RunEnd`` always fires."""
    return _run(kind, [cfg], data, [callbacks], stop, [run_id],
                lambda cfgs, data, sessions: [kind.fit(cfgs[0], data, sessions[0])])[0]


def run_fit_stack(kind: Any, cfgs: list[Any], data: Any, callbacks: list[Iterable[Callback]],
                  stop: threading.Event | None, run_ids: list[str]) -> list[FitResult]:
    """Train runs together with ``kind.fit_stack(cfgs, data, sessions)``; every
    member gets its own events and a ``RunEnd``, whatever happens."""
    return _run(kind, cfgs, data, callbacks, stop, run_ids, kind.fit_stack)


def _run(kind: Any, cfgs: list[Any], data: Any, callbacks: list[Iterable[Callback]],
         stop: threading.Event | None, run_ids: list[str], train) -> list[FitResult]:
    """One session per run; ``train(cfgs, data, sessions) -> [Fitted]``. A
    ``BenchError`` or any exception ends every run as failed (its folder is
    still written); a run that failed before it started still gets a start."""
    sessions = [RunSession(kind.name, run_id, cfg, cbs, stop) for cfg, cbs, run_id in zip(cfgs, callbacks, run_ids)]
    started = time.perf_counter()
    try:
        for cfg in cfgs:
            kind.check_config(cfg)
        with cpu_threads(getattr(getattr(cfgs[0], "system", None), "threads", 0)):
            fitted = train(cfgs, data, sessions)
    except Exception as exc:  # noqa: BLE001 - one broken run must not take the listeners' RunEnd with it
        message = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
        fitted = [Fitted("failed", message) for _ in cfgs]
    wall = time.perf_counter() - started
    results = []
    for cfg, session, out in zip(cfgs, sessions, fitted):
        if not session.started:
            session.start(0, 0, getattr(getattr(cfg, "system", None), "device", "?"))
        emit(session.callbacks, "on_run_end", RunEnd(session.run_id, out.status, out.message, wall))
        results.append(FitResult(out.status, out.message, session.history.data, out.model, out.extra))
    return results
