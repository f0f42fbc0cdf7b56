"""A test-only experiment kind: fit a straight line y = a x + b by
full-batch gradient descent in numpy. Its only metric is a mean absolute
error (lower is better); it has no accuracy, no loss curves of its own, no
model file. Importing this module registers it; nothing outside this file
names it."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import kit
from engine.errors import BenchError
from engine.figures import generic_figures
from engine.kinds import Kind, Metric, Preview, register
from engine.system import seed_everything


@dataclass(frozen=True)
class LineData:
    dataset: str = field(default="line", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={"help": "folder with points.csv (x,y); empty = y = 3x + 1 + noise"})


@dataclass(frozen=True)
class LineModel:
    noise: float = field(default=0.1, metadata={"help": "noise of the generated points"})


@dataclass(frozen=True)
class LineOptim(kit.OptimConfig):
    lr: float = field(default=0.1, metadata={"help": "gradient descent step"})
    epochs: int = field(default=20, metadata={"help": "full-batch steps"})


@dataclass(frozen=True)
class LineConfig:
    data: LineData = field(default_factory=LineData)
    model: LineModel = field(default_factory=LineModel)
    optim: LineOptim = field(default_factory=LineOptim)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


@dataclass
class Points:
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    source: str

    def sizes(self) -> dict[str, int]:
        return {s: len(v) for s, v in self.y.items()}


def load(cfg: LineConfig, data_root: Path) -> Points:
    if cfg.data.path:
        path = Path(cfg.data.path) / "points.csv"
        if not path.is_file():
            raise BenchError(f"line: {path} is missing")
        rows = np.array([[float(v) for v in row] for row in csv.reader(path.open())])
        x, y = rows[:, 0], rows[:, 1]
        source = f"folder {cfg.data.path}"
    else:
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, 90)
        y = 3 * x + 1 + rng.normal(0, cfg.model.noise, 90)
        source = "generated: y = 3x + 1 + noise"
    return Points({"train": x[:60], "val": x[60:75], "test": x[75:]},
                  {"train": y[:60], "val": y[60:75], "test": y[75:]}, source)


def fit(cfg: LineConfig, data: Points, session: kit.RunSession) -> kit.Fitted:
    seed_everything(cfg.system.seed)
    a, b = np.random.default_rng(cfg.system.seed).normal(size=2)
    session.start(cfg.optim.epochs, 1, "cpu")
    for epoch in range(1, cfg.optim.epochs + 1):
        started = time.perf_counter()
        residual = a * data.x["train"] + b - data.y["train"]
        a -= cfg.optim.lr * 2 * np.mean(residual * data.x["train"])
        b -= cfg.optim.lr * 2 * np.mean(residual)
        errors = {f"{s}_error": float(np.mean(np.abs(a * data.x[s] + b - data.y[s]))) for s in data.x}
        if session.tick(epoch, 0, 1):
            return kit.Fitted("stopped", f"stopped by request in epoch {epoch}")
        if not session.epoch_end(epoch, errors, [float(np.mean(residual ** 2))], time.perf_counter() - started):
            return kit.Fitted("diverged", f"error became NaN in epoch {epoch}")
    return kit.Fitted("ok", "", extra={"line": {"a": a, "b": b}})


def check(cfg: LineConfig) -> None:
    kit.check_common(cfg)
    if cfg.model.noise < 0:
        raise BenchError(f"model.noise must be at least 0 (got {cfg.model.noise})")


KIND = register(Kind(
    name="line",
    title="straight-line fit (test kind)",
    config_type=LineConfig,
    fit=fit,
    check_config=check,
    datasets={"line": "a folder with points.csv (x,y)"},
    load_data=load,
    data_key=lambda cfg: ("line", cfg.data.path, cfg.model.noise),
    describe_data=lambda data: {"name": "line", "source": data.source, "sizes": data.sizes()},
    preview=lambda data: Preview(f"{data.source}; splits {data.sizes()}",
                                 scatter={"x": data.x["train"].tolist(), "y": data.y["train"].tolist(),
                                          "title": "training points", "xlabel": "x", "ylabel": "y"}),
    metrics=tuple(Metric(f"{s}_error", f"{label} mean absolute error", f"{s} err", "lower", unit="units")
                  for s, label in (("train", "train"), ("val", "validation"), ("test", "test"))),
    primary="val_error",
    shown=("val_error", "test_error"),
    step_loss_label="squared error",
    figures=generic_figures(),
    default_figures=({"kind": "curves", "metrics": ["val_error"]},),
    save_artifacts=lambda result, run_dir, record, data: record.update(result.extra) or [],
))
