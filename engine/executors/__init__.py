"""Executors: where a replay's units of work train.

A unit of work is a run alone or a stack of runs that train together
(``engine.study._stacks``). The driver (``engine.study.replay``) plans,
writes every run folder (its ``RunWriter`` callbacks), saves artefacts and
draws figures; an executor only trains units and delivers, in the driver's
thread, every event of every run (``Unit.deliver``) and each unit's results
(``finish(unit, results)``, the one place that turns results into finished
run records).

- ``local``: one unit after another in the driver's process (the original behaviour).
- ``processes``: units in parallel worker processes on this machine (``--workers N``).
- ``ray``: each unit is a Ray Tune trial, on a local Ray instance or a cluster
  (``--ray-address``); the only executor that carries out ``early_stop`` (ASHA).

A worker gets a ``Task`` (kind name, the unit's configs and run ids, where
the data lives), loads the data itself (cached per process), trains with
``Kind.train`` / ``Kind.train_stack`` and sends back the events and the
results (models moved to the CPU, pickled).
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.config import to_dict
from engine.errors import BenchError
from engine.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd, emit
from engine.kit import FitResult

EXECUTORS = ("local", "processes", "ray")


def _usable(stream) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0 and bool(getattr(stream, "encoding", None))
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def real_stdio():
    """``sys.stdout`` and ``sys.stderr`` with file descriptors, for as long as
    a parallel executor starts processes or Ray: the lab bench (Textual)
    replaces them with captures whose ``fileno()`` is -1 and that have no
    ``encoding``, which multiprocessing's resource tracker ("bad value(s) in
    fds_to_keep") and Ray's import both trip on. Under the lab bench they
    write to /dev/null meanwhile; on a console nothing changes."""
    saved = sys.stdout, sys.stderr
    if _usable(sys.stdout) and _usable(sys.stderr):
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        sys.stdout = saved[0] if _usable(saved[0]) else devnull
        sys.stderr = saved[1] if _usable(saved[1]) else devnull
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


@dataclass(frozen=True)
class Task:
    """What a worker needs to train one unit (plain, picklable data)."""

    index: int
    kind: str
    kind_module: str  # imported by a worker that does not know the kind (a kind outside engine/kinds)
    configs: tuple
    run_ids: tuple[str, ...]
    data_root: str  # absolute
    early_stop: dict | None = None
    resume: tuple = ()  # per run: a checkpoint's bytes to go on from, or None (engine.checkpoint)


@dataclass
class Unit:
    """One unit of work on the driver's side. ``begin`` (called by the
    executor just before the unit trains) prepares its run folders and
    listeners; ``deliver`` hands them one event."""

    index: int
    runs: list  # engine.study.PlannedRun
    kind: str
    data: Any  # the driver's copy of the data (the local executor trains on it)
    data_root: Path
    early_stop: dict | None = None
    executor: str = ""  # the executor and its threads, as its log line says (recorded in run.json)
    prepare: Callable[["Unit"], list[list[Callback]]] | None = None
    # claims the unit's runs for this writer just before it trains (engine.study._claim); False when none
    # is left to train here (claimed by another replay or the lab bench, or finished by it meanwhile)
    claim: Callable[["Unit"], bool] | None = None
    callbacks: list[list[Callback]] = field(default_factory=list)
    writers: list = field(default_factory=list)  # engine.runs.RunWriter per run, set by prepare
    started: set[int] = field(default_factory=set)
    ended: set[int] = field(default_factory=set)
    began_at: dict[int, float] = field(default_factory=dict)  # member -> time.monotonic() of its RunStart
    last_epoch: dict[int, int] = field(default_factory=dict)  # member -> the last epoch it ended
    resume: list = field(default_factory=list)  # per run: a checkpoint's bytes to go on from, or None
    begun_at: float | None = None  # engine.timings: when it was handed to a worker, when its first run started
    first_start_at: float | None = None
    pretrained: bool = False  # a run's start note says it pretrained a backbone first
    prep: Any = None  # the kind's shared_prep key of its runs (None: nothing shared to prepare)

    @property
    def preparing(self) -> bool:
        """Handed to a worker and making its shared preparation: no run of it has started yet."""
        return self.prep is not None and self.begun_at is not None and self.first_start_at is None

    @property
    def configs(self) -> list:
        return [run.config for run in self.runs]

    @property
    def run_ids(self) -> list[str]:
        return [run.run_id for run in self.runs]

    def begin(self) -> bool:
        """Claim the unit's runs and open their folders and listeners (afresh when a unit is trained again,
        e.g. a Ray trial retried); False when none is left to train here (the executor then skips the unit)."""
        if self.claim is not None and not self.claim(self):
            return False
        self.started, self.ended, self.began_at, self.last_epoch = set(), set(), {}, {}
        self.begun_at = time.perf_counter()
        self.callbacks = self.prepare(self) if self.prepare is not None else [[] for _ in self.runs]
        return True

    def task(self) -> Task:
        from engine.kinds import MODULES

        return Task(self.index, self.kind, MODULES.get(self.kind, ""), tuple(self.configs), tuple(self.run_ids),
                    str(Path(self.data_root).resolve()), self.early_stop, tuple(self.resume))

    def listeners(self) -> list[list[Callback]]:
        """Per run: a tracker (which runs started and ended) and the driver's callbacks."""
        return [[_Tracker(self, i), *cbs] for i, cbs in enumerate(self.callbacks)]

    def note(self, member: int, hook: str, event: object) -> None:
        """Keep what a failure must record: which runs started (and when), their last epoch, which ended."""
        if hook == "on_run_start":
            self.started.add(member)
            self.began_at[member] = time.monotonic()
            self.mark_start(event)
        elif hook == "on_epoch_end":
            self.last_epoch[member] = getattr(event, "epoch", 0)
            self.mark_start(event)
        elif hook == "on_run_end":
            self.ended.add(member)

    def deliver(self, member: int, hook: str, event: object) -> None:
        """One event from a worker: to the run's listeners, in the driver's thread."""
        self.note(member, hook, event)
        emit(self.callbacks[member], hook, event)

    def mark_start(self, event: object) -> None:
        if self.first_start_at is None:
            self.first_start_at = time.perf_counter()
        self.pretrained = self.pretrained or "pretraining" in getattr(event, "note", "")

    def fail(self, reason: str) -> list[FitResult]:
        """The unit's worker died: every run that had not ended ends ``failed``,
        with the time it ran and the last epoch it finished."""
        results = []
        now = time.monotonic()
        for i, (cfg, run_id) in enumerate(zip(self.configs, self.run_ids)):
            message = reason if i not in self.last_epoch else f"{reason}, after epoch {self.last_epoch[i]}"
            if i not in self.started:
                device = getattr(getattr(cfg, "system", None), "device", "?")
                self.deliver(i, "on_run_start", RunStart(run_id, 0, 0, str(device),
                                                         json.dumps(to_dict(cfg)), "", self.kind))
            if i not in self.ended:
                self.deliver(i, "on_run_end", RunEnd(run_id, "failed", message, now - self.began_at.get(i, now)))
            results.append(FitResult("failed", message, {}, None))
        return results


class _Tracker(Callback):
    """The local executor's listener: its runs' events reach the unit's record of them."""

    def __init__(self, unit: Unit, member: int):
        self.unit, self.member = unit, member

    def on_run_start(self, event: RunStart) -> None:
        self.unit.note(self.member, "on_run_start", event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.unit.note(self.member, "on_epoch_end", event)

    def on_run_end(self, event: RunEnd) -> None:
        self.unit.note(self.member, "on_run_end", event)


Finish = Callable[[Unit, list[FitResult]], None]


class Lives:
    """The life of every unit an executor trains, written once for all of
    them: started (its run folders opened; again, afresh, when a unit is
    trained a second time), its events streamed to its runs' listeners,
    finished with its results or failed with a reason, each exactly once.
    The workers' messages are tuples: ``("begin", index)``, ``("event",
    index, member, hook, event)``, ``("done", index, pickled results)``,
    ``("error", index, reason[, traceback])``."""

    def __init__(self, units: list[Unit], finish: "Finish", log: Callable[[str], None]):
        self.units = {u.index: u for u in units}
        self.finish_, self.log = finish, log
        self.begun: set[int] = set()
        self.finished: set[int] = set()
        self.attempts: dict[int, int] = {}

    def start(self, unit: Unit) -> bool:
        """Begin a unit; False when it is not to be trained here (finished, or its runs claimed by another
        writer: such a unit is done here without results)."""
        if unit.index in self.finished:
            return False
        self.attempts[unit.index] = self.attempts.get(unit.index, 0) + 1
        if unit.index in self.begun:
            self.log(f"{', '.join(unit.run_ids)}: trained again from the start (attempt {self.attempts[unit.index]})")
        if not unit.begin():
            self.finished.add(unit.index)
            return False
        self.begun.add(unit.index)
        return True

    def event(self, unit: Unit, member: int, hook: str, event: object) -> None:
        if unit.index in self.begun and unit.index not in self.finished:
            unit.deliver(member, hook, event)

    def done(self, unit: Unit, results: list[FitResult]) -> None:
        if unit.index not in self.finished:
            self.finished.add(unit.index)
            self.finish_(unit, results)

    def fail(self, unit: Unit, reason: str) -> None:
        """A unit that died (or never started): its runs end ``failed``; one
        that never began gets its run folders first, so no run goes unrecorded."""
        if unit.index in self.finished:
            return
        if unit.index not in self.begun:
            self.start(unit)
        self.done(unit, unit.fail(reason))

    def handle(self, message: tuple) -> None:
        """One message from a worker."""
        unit = self.units[message[1]]
        if message[0] == "begin":
            self.start(unit)
        elif message[0] == "event":
            self.event(unit, *message[2:5])
        elif message[0] == "done":
            self.done(unit, pickle.loads(message[2]))
        elif message[0] == "error":
            if len(message) > 3 and message[3]:
                self.log(message[3])
            self.fail(unit, message[2])

    def unfinished(self) -> list[Unit]:
        return [u for u in self.units.values() if u.index not in self.finished]


class Executor:
    name = ""

    def describe(self, units: int) -> str:
        return f"{self.name}, {units} unit{'s' if units != 1 else ''} of work"

    def run(self, units: list[Unit], stop: threading.Event, finish: Finish, log: Callable[[str], None]) -> None:
        raise NotImplementedError


# ------------------------------------------------------------ worker side
def failure(what: str, exc: BaseException) -> str:
    """A worker's one-line account of why a unit failed (a BenchError says it all)."""
    return f"{what}: {exc if isinstance(exc, BenchError) else f'{type(exc).__name__}: {exc}'}"


class Sender(Callback):
    """A worker's listener: every event of one run goes to ``send((member, hook, event))``."""

    wants_checkpoints = True  # the driver's checkpoint writer gets them from it

    def __init__(self, send: Callable[[tuple], None], member: int):
        self.send, self.member = send, member

    def on_run_start(self, event: RunStart) -> None:
        self.send((self.member, "on_run_start", event))

    def on_step_end(self, event: StepEnd) -> None:
        self.send((self.member, "on_step_end", event))

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.send((self.member, "on_epoch_end", event))

    def on_run_end(self, event: RunEnd) -> None:
        self.send((self.member, "on_run_end", event))


_DATA: dict[tuple, Any] = {}  # per worker process: the datasets it loaded last (kind name + data key), oldest first
KEEP_DATASETS = 3  # longest-first scheduling interleaves experiments: a worker comes back to a dataset it had just
# used; three keep that from loading it again (image datasets: up to three copies in each worker's memory)


def kind_of(task: Task):
    """The task's kind: its own module is imported (not every kind's: a
    worker starts faster), the whole registry only when that fails."""
    from engine.kinds import KINDS, get_kind

    if task.kind not in KINDS and task.kind_module:
        try:
            importlib.import_module(task.kind_module)
        except ImportError:
            pass
    return KINDS[task.kind] if task.kind in KINDS else get_kind(task.kind)


def train_task(task: Task, callbacks: list[Iterable[Callback]], stop) -> list[FitResult]:
    """Train one unit in a worker: load (or reuse) the data, train, return
    results that can travel (models on the CPU)."""
    kind = kind_of(task)
    key = (task.kind, kind.data_key(task.configs[0]))
    data = _DATA.pop(key, None)
    if data is None:
        while len(_DATA) >= KEEP_DATASETS:  # a few at a time: a worker of a long replay does not hoard them all
            _DATA.pop(next(iter(_DATA)))
        data = kind.load_data(task.configs[0], Path(task.data_root))
    _DATA[key] = data  # the most recent last
    resume = list(task.resume) or [None] * len(task.configs)
    if len(task.configs) == 1:
        results = [kind.train(task.configs[0], data, callbacks[0], stop, task.run_ids[0], resume[0])]
    else:
        results = kind.train_stack(list(task.configs), data, callbacks, stop, list(task.run_ids), resume)
    return [portable(r) for r in results]


def portable(result: FitResult) -> FitResult:
    """The result with torch modules and tensors moved to the CPU, so that
    it unpickles on a driver without the worker's GPU."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(result.model, (torch.nn.Module, torch.Tensor)):
        result.model = result.model.cpu()
    return result


def pack(results: list[FitResult]) -> bytes:
    """Results as bytes (plain pickle: tensors are copied, not shared)."""
    return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# ---------------------------------------------------------------- choice
def choose(name: str | None, units: int, early_stop: bool) -> str:
    """``--executor`` as given, or the default: ``ray`` when an experiment asks
    for early stopping, ``processes`` when it is faster (more than one core or
    GPU and more than one unit of work), ``local`` otherwise."""
    if name is not None:
        if name not in EXECUTORS:
            raise BenchError(f"--executor {name}: unknown executor (known: {', '.join(EXECUTORS)})")
        return name
    if early_stop:
        return "ray"
    return "processes" if units > 1 and (cores() > 1 or gpus() > 1) else "local"


def make(name: str, workers: int | None = None, ray_address: str | None = None) -> Executor:
    if workers is not None and workers < 1:
        raise BenchError(f"--workers {workers}: give 1 or more workers")
    if name == "local":
        from engine.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "processes":
        from engine.executors.processes import ProcessExecutor

        return ProcessExecutor(workers)
    if name == "ray":
        from engine.executors.ray import RayExecutor

        return RayExecutor(workers, ray_address)
    raise BenchError(f"--executor {name}: unknown executor (known: {', '.join(EXECUTORS)})")
