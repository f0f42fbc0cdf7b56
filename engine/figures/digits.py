"""Figures of kind ``digits`` (STUDY Part C.1, distances on digits).

The drawing functions build a matplotlib ``Figure`` from plain arrays; the
figure kinds (``(records, out, spec, title, ctx) -> file names``) read the
runs' records (``record["digits"]``: table, confusion matrices, centre
distances, the training embedding) and save them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from engine.figures import save
from engine.io import write_json, write_text

DIGIT_COLOURS = "tab10"
SPACE_TITLES = {"256d": "256-d pixels", "pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
CLASSIFIER_TITLES = {"centre": "nearest centre", "knn": "k-NN"}


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


# ------------------------------------------------------------- figure kinds
def space_of(record: dict) -> str:
    return record["config"]["model"]["space"]


def lab_of(record: dict) -> dict:
    return record.get("digits") or {}


def class_names(record: dict) -> list[str]:
    return (record.get("data") or {}).get("class_names") or [str(d) for d in range(10)]


def source_note(records: list[dict]) -> str:
    sources = sorted({(r.get("data") or {}).get("source", "") for r in records})
    return "; ".join(s for s in sources if s)


def distances(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Heat map of the distances between class centres, from the 256-d run."""
    run = next((r for r in records if space_of(r) == "256d" and lab_of(r).get("centre_distances")), None)
    if run is None:
        return []
    fig = centre_distance_heatmap(np.array(lab_of(run)["centre_distances"]), class_names(run),
                                  source_note([run])[:90])
    return [save(fig, out / spec.get("file", "centre_distances.png"))]


def embeddings(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """The training digits in every 2-D embedding that ran, coloured by digit."""
    runs = [r for r in records if lab_of(r).get("embedding")]
    runs.sort(key=lambda r: list(SPACE_TITLES).index(space_of(r)) if space_of(r) in SPACE_TITLES else 99)
    if not runs:
        return []
    points = {space_of(r): np.array(lab_of(r)["embedding"]["train"]) for r in runs}
    labels = np.array(lab_of(runs[0])["embedding"]["train_labels"])
    fig = embedding_scatter(points, labels, class_names(runs[0]),
                            f"{title}: 2-D embeddings of the training digits, coloured by digit")
    return [save(fig, out / spec.get("file", "embeddings.png"))]


def confusions(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Confusion matrices of both classifiers, per space in ``spaces``
    (default: every space that ran) on ``split`` (default test)."""
    split = spec.get("split", "test")
    wanted = spec.get("spaces")
    written = []
    for r in records:
        space = space_of(r)
        if wanted and space not in wanted:
            continue
        for classifier, label in CLASSIFIER_TITLES.items():
            matrix = lab_of(r).get("confusion", {}).get(f"{classifier}/{split}")
            if matrix is None:
                continue
            k = r["config"]["model"]["k"]
            name = f"{label}{f' (k = {k})' if classifier == 'knn' else ''}, {SPACE_TITLES.get(space, space)}, {split}"
            fig = confusion_matrix_figure(np.array(matrix), class_names(r), f"Confusion matrix: {name}")
            written.append(save(fig, out / f"confusion_{classifier}_{space}_{split}.png"))
    return written


def table_rows(records: list[dict]) -> list[dict]:
    """Every (classifier, space, split) row of every run, in the lab's order."""
    rows = []
    for r in records:
        for row in lab_of(r).get("table", []):
            rows.append({**row, "k": r["config"]["model"]["k"], "run": r.get("name"), "status": r.get("status")})
    order = list(SPACE_TITLES)
    rows.sort(key=lambda row: (list(CLASSIFIER_TITLES).index(row["classifier"]),
                               order.index(row["space"]) if row["space"] in order else 99, row["split"] != "train"))
    return rows


def table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """accuracy_table.md/.json: correct / incorrect / accuracy per classifier, space and split."""
    rows = table_rows(records)
    write_json(out / "accuracy_table.json", rows)
    lines = [f"# {title}: correct, incorrect and accuracy", "", f"Data: {source_note(records)}", "",
             "| classifier | space | split | correct | incorrect | accuracy |", "|---|---|---|---|---|---|"]
    for row in rows:
        who = CLASSIFIER_TITLES[row["classifier"]] + (f" (k = {row['k']})" if row["classifier"] == "knn" else "")
        lines.append(f"| {who} | {SPACE_TITLES.get(row['space'], row['space'])} | {row['split']} | "
                     f"{row['correct']} | {row['incorrect']} | {row['accuracy']:.2%} |")
    write_text(out / "accuracy_table.md", "\n".join(lines) + "\n")
    return ["accuracy_table.md", "accuracy_table.json"]
