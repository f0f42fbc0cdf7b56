"""Figures for Part C labs 1-3 (digits distances, perceptron, XOR).

Each function builds one matplotlib ``Figure`` from plain arrays and dicts
and returns it; the caller saves it (``fig.savefig(path)``, or
``engine.figures.save``). Figures are made with ``matplotlib.figure.Figure``
directly, not pyplot, so nothing is left open in pyplot's global state.
Every figure has a title, axis labels and a legend or colour bar.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DIGIT_COLOURS = "tab10"
SPACE_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "256d": "256-d pixels"}


def _annotate(ax, matrix: np.ndarray, fmt: str) -> None:
    """Write each cell's value, dark on light cells and light on dark ones."""
    middle = (np.nanmax(matrix) + np.nanmin(matrix)) / 2
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=7,
                color="white" if value < middle else "black")


def centre_distance_heatmap(distances: np.ndarray, class_names: Sequence[str], source: str = "") -> Figure:
    """10x10 distances between class centres, annotated; the smallest
    off-diagonal cells are the digits hardest to tell apart."""
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    image = ax.imshow(distances, cmap="viridis")
    _annotate(ax, distances, ".1f")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    off = distances + np.diag(np.full(len(distances), np.inf))
    i, j = np.unravel_index(np.argmin(off), off.shape)
    ax.set_title(
        "Distance between class centres (256-d)\n"
        f"small = hard to tell apart; closest: {class_names[i]} and {class_names[j]}"
        + (f"\n{source}" if source else ""),
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, label="Euclidean distance between centres")
    return fig


def embedding_scatter(
    embeddings: dict[str, np.ndarray], labels: np.ndarray, class_names: Sequence[str], title: str = ""
) -> Figure:
    """One panel per method (name -> (n, 2) points), coloured by digit."""
    methods = list(embeddings)
    fig = Figure(figsize=(4.2 * len(methods), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    cmap = matplotlib.colormaps[DIGIT_COLOURS]
    for ax, method in zip(axes, methods):
        points = embeddings[method]
        for c, name in enumerate(class_names):
            mask = labels == c
            ax.scatter(points[mask, 0], points[mask, 1], s=4, color=cmap(c % 10), label=name, alpha=0.8)
        ax.set_title(SPACE_TITLES.get(method, method))
        ax.set_xlabel(f"{SPACE_TITLES.get(method, method)} 1")
        ax.set_ylabel(f"{SPACE_TITLES.get(method, method)} 2")
    axes[-1].legend(title="digit", markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title or "2-D embeddings of the training digits, coloured by digit")
    fig.tight_layout()
    return fig


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Counts, row = true digit, column = predicted digit, annotated."""
    fig = Figure(figsize=(6.0, 5.2))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    _annotate(ax, matrix, "d")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_title(f"{title}\naccuracy {accuracy:.2%} ({int(np.trace(matrix))} of {int(matrix.sum())})", fontsize=9)
    fig.colorbar(image, ax=ax, label="number of digits")
    return fig


def perceptron_accuracy(histories: dict[str, list[dict]], title: str = "") -> Figure:
    """Accuracy per epoch, one colour per mode (batch / online), solid =
    train, dashed = test. ``histories``: mode -> ``train()``'s history."""
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.subplots()
    for index, (mode, history) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in history]
        colour = f"C{index}"
        ax.plot(epochs, [100 * h["train_accuracy"] for h in history], "-", color=colour, label=f"{mode}, train")
        ax.plot(epochs, [100 * h["test_accuracy"] for h in history], "--", color=colour, label=f"{mode}, test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Multi-class perceptron: batch vs online updates")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def xor_loss_curves(
    by_lr: dict[str, np.ndarray], by_init: dict[str, np.ndarray], epochs_label: str = "epoch"
) -> Figure:
    """Two panels of mean squared error per epoch: one curve per learning
    rate (left) and per initialisation (right). Keys are legend labels,
    values loss arrays (mean over seeds, or one net's)."""
    fig = Figure(figsize=(11.0, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, curves, what in ((axes[0], by_lr, "learning rate"), (axes[1], by_init, "initialisation")):
        for label, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
        ax.set_yscale("log")
        ax.set_xlabel(epochs_label)
        ax.set_title(f"XOR loss per {what}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(title=what)
    axes[0].set_ylabel("mean squared error (log scale)")
    fig.tight_layout()
    return fig


def xor_surface(outputs: np.ndarray, title: str = "") -> Figure:
    """Output of one net over the unit square (``xor.surface``'s grid:
    row = x2, column = x1), with the four XOR points and the 0.5 contour."""
    fig = Figure(figsize=(5.6, 4.8))
    ax = fig.subplots()
    image = ax.imshow(outputs, origin="lower", extent=(0, 1, 0, 1), cmap="coolwarm", vmin=0, vmax=1)
    n = len(outputs)
    axis = np.linspace(0, 1, n)
    ax.contour(axis, axis, outputs, levels=[0.5], colors="black", linewidths=1)
    for (x1, x2), target in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 0]):
        ax.scatter([x1], [x2], s=80, color="white" if target else "black", edgecolors="black", zorder=3, clip_on=False)
    ax.set_xlabel("input x1")
    ax.set_ylabel("input x2")
    ax.set_title(title or "XOR net output over the unit square\n(black line: output 0.5; dots: targets 0 black, 1 white)",
                 fontsize=9)
    fig.colorbar(image, ax=ax, label="network output")
    return fig
