"""The trainer kit: what every kind's trainer shares.

- ``OptimConfig`` / ``SystemConfig``: the base optimiser and system fields a
  kind's config extends (dataclass inheritance; a kind may override a
  default or add fields).
- ``check_common``: the config checks every kind runs first.
- ``cpu_threads``: one rule for every kind: ``system.threads = 0`` means all
  the cores torch sees; any other number is used as given.
- ``RunSession``: handed to a kind's ``fit``; it emits ``RunStart``, per-step
  progress and the stop check, ``EpochEnd``, and builds the history from those
  same events (the one history: the run writer builds it the same way). A
  torch kind names its state once (``resume_from``): the session then packs
  a checkpoint into each whole epoch's ``EpochEnd`` (where a listener has
  ``wants_checkpoints``) and restores a run that resumes (``engine.checkpoint``).
- ``adam``: the Adam every torch kind trains with (torch's fused kernel).
- ``run_fit``: wraps a kind's ``fit`` so that ``RunEnd`` always fires with the
  right status (a ``BenchError`` or any exception inside ``fit`` ends the run
  as ``failed``; it never escapes past ``on_run_end``).
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from engine import checkpoint
from engine.config import config_hash, to_dict
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


def adam(params: Iterable[Any], **options: Any) -> Any:
    """``torch.optim.Adam`` as every torch kind makes it: torch's fused
    kernel (one pass over the parameters instead of about eight; a ResNet18
    step at 48 px on one CPU thread 250 -> 228 ms). Same defaults as the
    unfused Adam; its state_dict's param groups say ``fused`` (a checkpoint
    of the unfused one is an earlier checkpoint format, not resumed), and
    the bits of an update differ from the unfused one's in the last place."""
    import torch

    return torch.optim.Adam(params, fused=True, **options)


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
                 stop: threading.Event | None = None, resume: bytes | None = None):
        self.kind, self.run_id, self.config, self.stop_event = kind, run_id, config, stop
        self.history = History()
        self.callbacks: list[Callback] = [self.history, *callbacks]
        self.started = False
        self._ticker = StepTicker(self.callbacks, run_id, stop)
        self._wanted = any(getattr(cb, "wants_checkpoints", False) for cb in self.callbacks)  # else no checkpoint is packed
        self.epochs = 0
        self._resume = resume  # a checkpoint's bytes (engine.checkpoint) to start from, or None
        self._saved: dict[str, Any] | None = None  # the objects a checkpoint holds (resume_from names them)
        self._clock = time.perf_counter()
        self.seconds_before = 0.0  # trained before this session, by the run this one resumes
        self._cut: int | None = None  # the epoch a stop cut short
        self._diverged_too = False
        self.resumed_diverged = False  # resumed from the checkpoint of the epoch it diverged in

    def start(self, epochs: int, steps_per_epoch: int, device: Any, note: str = "") -> None:
        self.started = True
        self.epochs = epochs
        emit(self.callbacks, "on_run_start", RunStart(self.run_id, epochs, steps_per_epoch, str(device),
                                                       json.dumps(to_dict(self.config)), note, self.kind))

    def tick(self, epoch: int, step: int, steps: int) -> bool:
        """After each optimiser step (0-based ``step``): True when the run must stop."""
        if self._ticker.tick(epoch, step, steps):
            self._cut = epoch  # this epoch is cut short: no checkpoint of it
            return True
        return False

    @property
    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def resume_from(self, diverged_too: bool = False, **objects: Any) -> int:
        """Name what carries the run's state from one epoch to the next (modules,
        optimisers, generators: anything with ``state_dict``/``load_state_dict``,
        or a ``torch.Generator``), just before the first epoch. When the run
        resumes, their states, the random states and the history are restored
        from its checkpoint; returns the last epoch it holds (0: start afresh).
        From now on every whole epoch that ends well sends a checkpoint,
        where one of the run's listeners wants it (``wants_checkpoints``).

        ``diverged_too``: the epoch a run diverged in is checkpointed as well
        (a stack's member, which keeps its place in the stack after it
        diverged); ``resumed_diverged`` then says a run resumed that way."""
        self._saved, self._diverged_too = objects, diverged_too
        if self._resume is None:
            return 0
        saved = checkpoint.unpack(self._resume)
        self._resume = None
        checkpoint.restore(saved, objects)
        self.history.data.update(saved["history"])
        self.seconds_before = float(saved["elapsed"])
        self.resumed_diverged = bool(saved.get("diverged"))
        return int(saved["epoch"])

    def epoch_end(self, epoch: int, metrics: dict[str, float], step_losses: Iterable[float] = (),
                  seconds: float = 0.0, grad_sq_norm: Iterable[float] | None = None, finite: bool = True) -> bool:
        """Record one epoch; False when a loss is NaN or infinite, or the
        trainer's own check (``finite``) failed: the run diverged."""
        step_losses = tuple(float(v) for v in step_losses)
        values = tuple((k, float(v)) for k, v in metrics.items())
        event = EpochEnd(self.run_id, epoch, values, step_losses, seconds,
                         tuple(grad_sq_norm) if grad_sq_norm is not None else None)
        # diverged: a training step's loss, or a loss measured on held-out data, is not finite
        watched = [v for k, v in values if k.endswith("loss") and not k.startswith(("train_", "test_"))]
        finite = finite and all(math.isfinite(v) for v in watched + list(step_losses))
        whole = self._saved is not None and 0 < epoch < self.epochs and self._cut != epoch and self._wanted
        if whole and (finite or self._diverged_too):
            event = replace(event, checkpoint=self._checkpoint(event, diverged=not finite))
        emit(self.callbacks, "on_epoch_end", event)
        return finite

    def _checkpoint(self, event: EpochEnd, diverged: bool) -> bytes:
        """The run's state after this epoch, its history including the epoch."""
        history = History()
        history.data = copy.deepcopy(self.history.data)
        history.on_epoch_end(event)
        return checkpoint.pack(config_hash=config_hash(self.config), epoch=event.epoch, epochs=self.epochs,
                               elapsed=self.seconds_before + time.perf_counter() - self._clock,
                               history=history.data, objects=self._saved, diverged=diverged)


def run_fit(kind: Any, cfg: Any, data: Any, callbacks: Iterable[Callback] = (),
            stop: threading.Event | None = None, run_id: str = "run", resume: bytes | None = None) -> FitResult:
    """Train one run with ``kind.fit(cfg, data, session)``; ``RunEnd`` always
    fires. ``resume``: a checkpoint (engine.checkpoint) to go on from."""
    return _run(kind, [cfg], data, [callbacks], stop, [run_id],
                lambda cfgs, data, sessions: [kind.fit(cfgs[0], data, sessions[0])], [resume])[0]


def run_fit_stack(kind: Any, cfgs: list[Any], data: Any, callbacks: list[Iterable[Callback]],
                  stop: threading.Event | None, run_ids: list[str],
                  resume: list[bytes | None] | None = None) -> list[FitResult]:
    """Train runs together with ``kind.fit_stack(cfgs, data, sessions)``; every
    member gets its own events and a ``RunEnd``, whatever happens. ``resume``:
    per run, a checkpoint to go on from (the members of a stack resume from one epoch)."""
    return _run(kind, cfgs, data, callbacks, stop, run_ids, kind.fit_stack, resume)


def _run(kind: Any, cfgs: list[Any], data: Any, callbacks: list[Iterable[Callback]],
         stop: threading.Event | None, run_ids: list[str], train,
         resume: list[bytes | None] | None = None) -> list[FitResult]:
    """One session per run; ``train(cfgs, data, sessions) -> [Fitted]``. A
    ``BenchError`` or any exception ends every run as failed (its folder is
    still written); a run that failed before it started still gets a start."""
    resume = list(resume or []) + [None] * (len(cfgs) - len(resume or []))
    sessions = [RunSession(kind.name, run_id, cfg, cbs, stop, saved)
                for cfg, cbs, run_id, saved in zip(cfgs, callbacks, run_ids, resume)]
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
        emit(session.callbacks, "on_run_end", RunEnd(session.run_id, out.status, out.message,
                                                     session.seconds_before + wall))
        results.append(FitResult(out.status, out.message, session.history.data, out.model, out.extra))
    return results
