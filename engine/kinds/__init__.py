"""The registry of experiment kinds.

One module per kind (``engine/kinds/<name>.py``) builds a ``Kind`` and calls
``register``; everything else (presets, replay, run records, figures, the
CLI, the console progress, the TUI) iterates over ``KINDS`` and reads the
declarations. Modules of this package are imported on first use; a kind
that lives elsewhere (a user's module, a test) is registered by importing
it, or by naming its module in ``BENCHTUI_KINDS`` (comma-separated).

A kind declares:
- ``config_type`` (a dataclass; see ``engine.kit`` for the shared fields),
  ``check_config`` and ``fit(cfg, data, session) -> engine.kit.Fitted``;
- its datasets (``--data NAME=PATH`` names), how to load, key, describe and
  preview them;
- its metrics (``Metric``: label, unit, direction), the ``primary`` one that
  ranks runs, and what the console, Monitor and Runs table show;
- its figure kinds and the default figures of a sweep set up in the TUI;
- what it saves per run (``save_artifacts``).
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from engine.errors import BenchError
from engine.figures import FigureKind  # noqa: F401 - a kind declares its figures with it (it lives with them)


@dataclass(frozen=True)
class Metric:
    name: str  # the history key, e.g. "val_accuracy"
    label: str  # "validation accuracy"
    short: str  # "val acc" (tables, progress)
    better: Literal["higher", "lower"]
    unit: str = ""  # "minutes"; "" when unitless
    fmt: str = ".3f"

    def best(self, values: Iterable[float]) -> float | None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        return max(finite) if self.better == "higher" else min(finite)

    def format(self, value: float | None) -> str:
        return "—" if value is None else format(value, self.fmt)


SPLIT_NAMES = (("train", "train"), ("val", "validation"), ("test", "test"))


def per_split(name: str, better: Literal["higher", "lower"], short: str | None = None, unit: str = "",
              fmt: str = ".3f") -> tuple[Metric, ...]:
    """``train_<name>``, ``val_<name>``, ``test_<name>``: one metric per split."""
    short = short or name
    return tuple(Metric(f"{split}_{name}", f"{label} {name.replace('_', ' ')}", f"{split} {short}", better, unit, fmt)
                 for split, label in SPLIT_NAMES)


@dataclass(frozen=True)
class Preview:
    """What the Setup screen shows of a loaded dataset (UI-free)."""

    text: str
    scatter: dict | None = None  # {"x": [...], "y": [...], "color": [...], "title", "xlabel", "ylabel"}
    image: Any = None  # an (H, W, 3) uint8 array


@dataclass(frozen=True)
class StepChart:
    """What the live per-step chart plots: ``y`` per ``x`` (its title reads
    ``misclassified / epoch``), on a log scale or not."""

    y: str = "loss"
    x: str = "step"
    log: bool = True


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    config_type: type
    fit: Callable[..., Any]  # (cfg, data, session: engine.kit.RunSession) -> engine.kit.Fitted
    datasets: dict[str, str]  # --data NAME -> what the folder holds
    load_data: Callable[[Any, Path], Any]  # (config, data root) -> dataset
    data_key: Callable[[Any], tuple]  # runs with the same key share one loaded dataset
    describe_data: Callable[[Any], dict]  # run.json's "data"
    preview: Callable[[Any], Preview]
    metrics: tuple[Metric, ...]
    primary: str  # ranks runs: best/worst, progress, Runs table, live chart
    shown: tuple[str, ...]  # metrics the console progress and the Runs table show, in this order
    step_loss_label: str  # what the per-step training loss is, e.g. "cross-entropy loss"
    figures: dict[str, FigureKind]
    default_figures: tuple[dict, ...]
    save_artifacts: Callable[[Any, Path, dict, Any], list[str]] = lambda result, run_dir, record, data: []
    check_config: Callable[[Any], None] = lambda cfg: None
    figure_context: Callable[..., Any] | None = None  # (kind, data_for) -> context for figures
    packages: tuple[str, ...] = ()  # versions recorded in run.json
    default: bool = False  # the kind of an [[experiment]] that names none
    # runs whose stack_key is equal (and not None) train together: fit_stack(cfgs, data, sessions) -> [Fitted]
    stack_key: Callable[[Any], Any] | None = None
    fit_stack: Callable[..., list] | None = None
    # runs whose shared_prep key is equal (and not None) share a costly preparation that the first of them
    # makes and caches (e.g. pretraining a backbone): an executor with workers starts no second such run while
    # the first prepares (it would only wait for it), but hands its workers other work meanwhile
    shared_prep: Callable[[Any], Any] | None = None
    description: str = ""
    step_chart: StepChart = StepChart()  # the live chart of ``step_losses`` (the Monitor's left chart)

    # ---------------------------------------------------------------- metrics
    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        if name.startswith("best_"):
            base = self.metric(name[5:])
            return Metric(name, "best " + base.label, "best " + base.short, base.better, base.unit, base.fmt)
        if name == "step_loss":
            label = self.step_loss_label
            label = label if label.startswith("training") else f"training {label}"
            return Metric(name, label if "per " in label else f"{label} per step", "step loss", "lower")
        raise KeyError(name)

    @property
    def primary_metric(self) -> Metric:
        return self.metric(self.primary)

    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics] + ["step_loss"]

    def final_metrics(self, history: dict) -> dict:
        """run.json's ``final``: the last epoch's value of every metric, the
        best value of the primary metric over epochs, the wall time."""
        out: dict[str, Any] = {}
        for m in self.metrics:
            values = history.get(m.name) or []
            out[m.name] = values[-1] if values else None
        out[f"best_{self.primary}"] = self.primary_metric.best(history.get(self.primary) or [])
        out["wall_time"] = history.get("wall_time")
        return out

    # ----------------------------------------------------------------- figures
    def check_figure(self, spec: dict) -> None:
        """Reject unknown figure kinds, options and metrics before training."""
        from engine.config import resolve_key

        kind = spec.get("kind")
        if not isinstance(kind, str) or kind not in self.figures:
            raise BenchError(f"unknown figure kind {kind!r} for kind '{self.name}' (known: {', '.join(self.figures)})")
        fig = self.figures[kind]
        allowed = set(fig.options) | {"kind"}
        for key in spec:
            if key not in allowed:
                raise BenchError(f"figure '{kind}': unknown option '{key}' (allowed: {', '.join(sorted(allowed))})")
        known = self.metric_names() + [f"best_{self.primary}"]
        for option in fig.metric_options:
            values = spec.get(option)
            for metric in [values] if isinstance(values, str) else (values or []):
                if metric not in known:
                    raise BenchError(f"figure '{kind}': unknown metric '{metric}' (known: {', '.join(sorted(known))})")
        for option in fig.key_options:
            if option == "where" and "where" in spec:
                spec["where"] = {resolve_key(self.config_type, k): v for k, v in spec["where"].items()}
            elif option in spec:
                spec[option] = resolve_key(self.config_type, spec[option])

    # ------------------------------------------------------------------- run
    def train(self, cfg: Any, data: Any, callbacks: Iterable = (), stop: threading.Event | None = None,
              run_id: str = "run", resume: bytes | None = None):
        """Train one run; ``RunEnd`` always fires (see ``engine.kit.run_fit``);
        ``resume``: a checkpoint to go on from (``engine.checkpoint``)."""
        from engine.kit import run_fit

        return run_fit(self, cfg, data, callbacks, stop, run_id, resume)

    def train_stack(self, cfgs: list, data: Any, callbacks: list, stop: threading.Event | None = None,
                    run_ids: list[str] | None = None, resume: list | None = None) -> list:
        """Train runs together as one stacked model (see ``stack_key``)."""
        from engine.kit import run_fit_stack

        return run_fit_stack(self, cfgs, data, callbacks, stop, run_ids or [f"run{i}" for i in range(len(cfgs))],
                             resume)


KINDS: dict[str, Kind] = {}
MODULES: dict[str, str] = {}  # kind name -> the module that registered it (what a worker process imports)
_loaded = False


def register(kind: Kind) -> Kind:
    """Add a kind (a later registration of the same name replaces it).

    Several kinds may answer to one dataset name (the labs' ``digits`` feeds
    both the distance lab and the perceptron): ``--data NAME=DIR`` then
    applies to every run whose ``data.dataset`` is NAME, whatever its kind."""
    KINDS[kind.name] = kind
    MODULES[kind.name] = sys._getframe(1).f_globals.get("__name__", "")
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)


def load_kinds() -> dict[str, Kind]:
    """Import every module of this package (and of ``BENCHTUI_KINDS``) once."""
    global _loaded
    if not _loaded:
        _loaded = True
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            importlib.import_module(f"{__name__}.{info.name}")
        for module in filter(None, (m.strip() for m in os.environ.get("BENCHTUI_KINDS", "").split(","))):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise BenchError(f"BENCHTUI_KINDS: cannot import '{module}' ({exc})") from None
    return KINDS


def get_kind(name: str) -> Kind:
    load_kinds()
    if name not in KINDS:
        raise BenchError(f"unknown kind '{name}' (known: {', '.join(KINDS)})")
    return KINDS[name]


def default_kind() -> Kind:
    load_kinds()
    for kind in KINDS.values():
        if kind.default:
            return kind
    return next(iter(KINDS.values()))


def datasets() -> dict[str, Kind]:
    """Every dataset name a kind answers to, with the first registered kind
    that answers to it; ``dataset_choices`` lists every (dataset, kind) pair."""
    load_kinds()
    out: dict[str, Kind] = {}
    for kind in KINDS.values():
        for name in kind.datasets:
            out.setdefault(name, kind)
    return out


def dataset_choices() -> list[tuple[str, Kind]]:
    """Every (dataset name, kind) pair: what the Setup screen offers."""
    load_kinds()
    return [(name, kind) for kind in KINDS.values() for name in kind.datasets]


def dataset_of(cfg: Any) -> str:
    """The dataset a run's config reads (``data.dataset``)."""
    return cfg.data.dataset
