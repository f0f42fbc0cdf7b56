"""Lab 2 (STUDY Part C.2): a multi-class perceptron written in numpy.

256 inputs + a bias input fixed at 1, 10 linear outputs, prediction = the
output with the largest activation (ties go to the lowest class). The
perceptron rule, for a misclassified example x of class t predicted as p:

    W[:, t] += lr * x        W[:, p] -= lr * x

(correctly classified examples change nothing). Two schedules:
  * ``batch``: the updates of all examples misclassified by the current
    weights are summed and applied once per epoch;
  * ``online``: every example is checked and, if wrong, applied at once,
    visiting the training set in a new seeded random order each epoch.
Weights start as N(0, 0.01^2) drawn from ``seed``. Training stops early
when an epoch ends with every training example right (nothing left to
learn); ``epochs_run`` says when.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from engine import kit

MODES = ("batch", "online")
INIT_STD = 0.01


def add_bias(x: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d + 1) with a leading column of ones."""
    return np.hstack([np.ones((len(x), 1), x.dtype), x])


def predict(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Class per row of ``x`` (without bias column) for weights (d + 1, k)."""
    return np.argmax(add_bias(x) @ weights, axis=1)


def accuracy(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(weights, x) == y))


def batch_epoch(weights: np.ndarray, xb: np.ndarray, y: np.ndarray, lr: float) -> int:
    """One batch update in place; returns the number of misclassified rows."""
    pred = np.argmax(xb @ weights, axis=1)
    wrong = pred != y
    if wrong.any():
        k = weights.shape[1]
        # sum over wrong rows of lr * x * (onehot(t) - onehot(p))
        signs = np.eye(k)[y[wrong]] - np.eye(k)[pred[wrong]]
        weights += lr * xb[wrong].T @ signs
    return int(wrong.sum())


def online_epoch(weights: np.ndarray, xb: np.ndarray, y: np.ndarray, lr: float, order: np.ndarray) -> int:
    """One pass of per-example updates in ``order``, in place; returns the
    number of updates (examples wrong when visited)."""
    updates = 0
    for i in order:
        row = xb[i]
        pred = int(np.argmax(row @ weights))
        if pred != y[i]:
            weights[:, y[i]] += lr * row
            weights[:, pred] -= lr * row
            updates += 1
    return updates


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    mode: str = "batch",
    epochs: int = 50,
    lr: float = 0.1,
    seed: int = 0,
    on_epoch: Callable[[int, dict], None] | None = None,
    num_classes: int = 10,
) -> dict:
    """Train for up to ``epochs`` epochs. ``on_epoch(epoch, metrics)`` is
    called after each (epoch from 1; a true return value stops training) with ``train_accuracy``,
    ``test_accuracy`` (of the weights at the end of the epoch) and
    ``updates`` (misclassified examples that caused an update).
    Returns ``{"history": [metrics per epoch], "weights": (d + 1, k),
    "epochs_run": int, "train_accuracy": float, "test_accuracy": float}``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    # -- set up: bias column, seeded weights and visiting order
    rng = np.random.default_rng(seed)
    xb = add_bias(np.asarray(x_train, np.float64))
    y_train = np.asarray(y_train, np.int64)
    weights = rng.normal(0.0, INIT_STD, (xb.shape[1], num_classes))
    history: list[dict] = []

    for epoch in range(1, epochs + 1):
        # -- update
        if mode == "batch":
            updates = batch_epoch(weights, xb, y_train, lr)
        else:
            updates = online_epoch(weights, xb, y_train, lr, rng.permutation(len(xb)))
        # -- evaluate and report
        metrics = {
            "epoch": epoch,
            "train_accuracy": accuracy(weights, x_train, y_train),
            "test_accuracy": accuracy(weights, x_test, y_test),
            "updates": updates,
        }
        history.append(metrics)
        if on_epoch is not None and on_epoch(epoch, dict(metrics)):
            break  # the caller asked to stop
        # -- stop when the training set is separated
        if metrics["train_accuracy"] == 1.0:
            break

    return {
        "history": history,
        "weights": weights,
        "epochs_run": len(history),
        "train_accuracy": history[-1]["train_accuracy"],
        "test_accuracy": history[-1]["test_accuracy"],
    }


# ------------------------------------------------------------ the bench's kind
@dataclass(frozen=True)
class PerceptronData:
    dataset: str = field(default="digits", metadata={"help": "dataset name (--data digits=DIR)"})
    path: str = field(default="", metadata={"help": "folder with train_in/out.csv, test_in/out.csv; empty = stand-in"})


@dataclass(frozen=True)
class PerceptronModel:
    mode: Literal["batch", "online"] = field(default="batch", metadata={
        "help": "batch: one summed update per epoch; online: an update after every wrong example"})


@dataclass(frozen=True)
class PerceptronOptim:
    lr: float = field(default=0.1, metadata={"help": "step of the perceptron rule"})
    epochs: int = field(default=50, metadata={"help": "passes over the training set (stops early at 100 % train)"})


@dataclass(frozen=True)
class PerceptronConfig:
    data: PerceptronData = field(default_factory=PerceptronData)
    model: PerceptronModel = field(default_factory=PerceptronModel)
    optim: PerceptronOptim = field(default_factory=PerceptronOptim)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


def check_config(cfg: PerceptronConfig) -> None:
    kit.check_common(cfg)


def fit(cfg: PerceptronConfig, data, session: kit.RunSession) -> kit.Fitted:
    """Train one perceptron (one mode) on the digits; an epoch's metrics stream as it ends."""
    session.start(cfg.optim.epochs, 1, "cpu", note=f"{cfg.model.mode} updates, numpy")
    clock = {"t": time.perf_counter()}

    def on_epoch(epoch: int, metrics: dict) -> bool:
        now = time.perf_counter()
        session.epoch_end(epoch, {"train_accuracy": metrics["train_accuracy"],
                                  "test_accuracy": metrics["test_accuracy"]},
                          [metrics["updates"]], now - clock["t"])
        clock["t"] = now
        return session.tick(epoch, 0, 1)

    result = train(data.x["train"], data.y["train"], data.x["test"], data.y["test"], mode=cfg.model.mode,
                   epochs=cfg.optim.epochs, lr=cfg.optim.lr, seed=cfg.system.seed, on_epoch=on_epoch)
    if session.stop_requested:
        return kit.Fitted("stopped", f"stopped by request after epoch {result['epochs_run']}")
    separated = result["train_accuracy"] == 1.0
    return kit.Fitted("ok", "", extra={"perceptron": {
        "epochs_run": result["epochs_run"], "separated": separated,
        "updates": [h["updates"] for h in result["history"]],
        # per test digit (the final weights): what a paired test of two modes over the same digits needs
        "test_predictions": predict(result["weights"], data.x["test"]).astype(int).tolist(),
        "test_labels": np.asarray(data.y["test"]).astype(int).tolist()}})
