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

from typing import Callable

import numpy as np

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
    called after each (epoch from 1) with ``train_accuracy``,
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
        if on_epoch is not None:
            on_epoch(epoch, dict(metrics))
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
