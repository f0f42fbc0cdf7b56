"""Matplotlib figures (PNG) for runs and experiments.

Every figure is readable without explanation: a title, axis labels, a
legend. Files are written atomically. Figure functions take the run records
of one experiment (``run.json`` dicts with ``_dir`` set) and return the file
names they wrote.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from engine.config import get_value  # noqa: E402
from engine.errors import BenchError  # noqa: E402
from engine.io import atomic_path  # noqa: E402

METRIC_LABELS = {
    "train_loss": "train loss",
    "val_loss": "validation loss",
    "test_loss": "test loss",
    "train_accuracy": "train accuracy",
    "val_accuracy": "validation accuracy",
    "test_accuracy": "test accuracy",
    "step_loss": "training loss per step",
}
LINESTYLES = {"train": "-", "val": "--", "test": ":"}


def save(fig: plt.Figure, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path.name


def run_label(record: dict) -> str:
    return record.get("name", "run")


def config_value(record: dict, key: str) -> Any:
    value: Any = record["config"]
    for part in key.split("."):
        value = value[part]
    return value


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def class_colors(n: int) -> ListedColormap:
    base = list(plt.get_cmap("tab20").colors) + list(plt.get_cmap("tab20b").colors) + list(
        plt.get_cmap("tab20c").colors
    )
    return ListedColormap(base[:n] if n <= len(base) else [base[i % len(base)] for i in range(n)])


def status_note(record: dict) -> str:
    return "" if record.get("status") == "ok" else f" [{record.get('status')}]"


# ------------------------------------------------------------ per-run figure
def run_curves(record: dict, path: Path) -> str:
    """Loss and accuracy per epoch for train / validation / test."""
    h = record["history"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, style in LINESTYLES.items():
        label = {"train": "train", "val": "validation", "test": "test"}[split]
        ax_loss.plot(h["epoch"], h[f"{split}_loss"], style, label=label)
        ax_acc.plot(h["epoch"], h[f"{split}_accuracy"], style, label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{record.get('experiment_title', '')}: {run_label(record)}{status_note(record)}")
    return save(fig, path)


# --------------------------------------------------------- experiment figures
def curves(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    metrics = spec.get("metrics", ["val_loss"])
    facet = spec.get("facet")
    groups: dict[Any, list[dict]] = {}
    for r in records:
        groups.setdefault(config_value(r, facet) if facet else None, []).append(r)
    fig, axes = plt.subplots(1, len(groups), figsize=(6.2 * len(groups), 4.4), sharey=True, squeeze=False)
    per_step = metrics == ["step_loss"]
    for ax, (group, members) in zip(axes[0], groups.items()):
        colors = plt.get_cmap("tab10")
        for i, r in enumerate(members):
            h = r["history"]
            for m_index, metric in enumerate(metrics):
                style = LINESTYLES.get(metric.split("_")[0], "-")
                color = colors(i if len(members) > 1 else m_index)  # one run per panel: a colour per metric
                label = run_label(r) + status_note(r)
                if len(metrics) > 1:
                    label += f" {METRIC_LABELS.get(metric, metric)}"
                if per_step:
                    values = np.asarray(h.get("step_loss", []), dtype=float)
                    steps = np.arange(1, len(values) + 1)
                    window = max(1, len(values) // 100)
                    ax.plot(steps, values, color=color, alpha=0.15, linewidth=0.5)
                    ax.plot(steps[window - 1 :], smooth(values, window), color=color, label=label)
                else:
                    ax.plot(h["epoch"], h[metric], style, color=color, label=label)
        if per_step:
            ax.set_xscale("log")
            ax.set_xlabel("step (batch), log scale; faint: raw, bold: moving average")
        else:
            ax.set_xlabel("epoch")
        if all(m.endswith("loss") for m in metrics):
            ax.set_yscale("log")
            ax.set_ylabel("cross-entropy loss (log scale)")
        else:
            ax.set_ylabel(" / ".join(METRIC_LABELS.get(m, m) for m in metrics))
        if facet:
            ax.set_title(f"{facet.split('.')[-1]} = {group}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: {', '.join(METRIC_LABELS.get(m, m) for m in metrics)}")
    name = spec.get("file") or f"{'_'.join(metrics)}{'_by_' + facet.split('.')[-1] if facet else ''}.png"
    return [save(fig, out / name)]


def accuracy_vs(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    x_key = spec["x"]
    where = spec.get("where", {})
    chosen = [r for r in records if all(config_value(r, k) == v for k, v in where.items())]
    chosen = [r for r in chosen if r.get("final")]
    chosen.sort(key=lambda r: config_value(r, x_key))
    xs = [config_value(r, x_key) for r in chosen]
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    for split, style in LINESTYLES.items():
        label = {"train": "train", "val": "validation", "test": "test"}[split]
        ax.plot(xs, [r["final"][f"{split}_accuracy"] for r in chosen], style, marker="o", label=label)
    leaf = x_key.split(".")[-1]
    ax.set(xlabel={"depth": "hidden layers (depth)", "width": "units per hidden layer (width)"}.get(leaf, leaf),
           ylabel="final accuracy")
    if leaf == "width":
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    cond = ", ".join(f"{k.split('.')[-1]} = {v}" for k, v in where.items())
    ax.set_title(f"{title}: accuracy vs {leaf}" + (f" ({cond})" if cond else ""))
    ax.grid(alpha=0.3)
    ax.legend()
    return [save(fig, out / (spec.get("file") or f"accuracy_vs_{leaf}.png"))]


def gradients(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    layers = spec.get("layers", [0, 30, 60, 90, 95, 99])
    fig, axes = plt.subplots(1, len(records), figsize=(5.6 * len(records), 4.2), squeeze=False)
    for ax, r in zip(axes[0], records):
        grads = np.asarray(r["history"].get("grad_sq_norm", []), dtype=float)
        if grads.size == 0:
            ax.set_title(f"{run_label(r)}: no gradients recorded")
            continue
        epochs = np.arange(1, len(grads) + 1)
        colors = plt.get_cmap("viridis")
        for j, layer in enumerate(layers):
            if layer < grads.shape[1]:
                ax.plot(epochs, np.maximum(grads[:, layer], 1e-30), marker=".", color=colors(j / max(1, len(layers) - 1)),
                        label=f"layer {layer}")
        ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel="mean ||grad||² per step (log scale)", title=run_label(r) + status_note(r))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: gradient magnitude per layer (layer 0 = input layer)")
    return [save(fig, out / (spec.get("file") or "gradients.png"))]


def draw_regions(ax: plt.Axes, record: dict, ctx: Any) -> None:
    """Predicted country over a long/lat grid, test cities on top."""
    grid_x, grid_y, predicted = ctx.region_grid(record)
    x_test, y_test = ctx.test_points(record)
    n = ctx.num_classes(record)
    cmap = class_colors(n)
    ax.pcolormesh(grid_x, grid_y, predicted, cmap=cmap, vmin=-0.5, vmax=n - 0.5, alpha=0.45, shading="auto")
    ax.scatter(x_test[:, 0], x_test[:, 1], c=y_test, cmap=cmap, vmin=-0.5, vmax=n - 0.5, s=7,
               edgecolors="black", linewidths=0.25)
    acc = record.get("final", {}).get("test_accuracy")
    acc_text = f", test acc {acc:.3f}" if acc is not None else ""
    ax.set(xlabel="longitude (°)", ylabel="latitude (°)", title=f"{run_label(record)}{acc_text}")
    ax.set_aspect(1 / math.cos(math.radians(float(np.mean(y_test)))))


def regions(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    fig, axes = plt.subplots(1, len(records), figsize=(6.5 * len(records), 5.6), squeeze=False)
    for ax, r in zip(axes[0], records):
        draw_regions(ax, r, ctx)
    fig.suptitle(f"{title}: decision regions (shade: predicted country; dots: test cities, true country)")
    return [save(fig, out / (spec.get("file") or "regions.png"))]


def best_worst(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    metric = spec.get("metric", "val_accuracy")
    ranked = sorted((r for r in records if r.get("final") and r["final"].get(metric) is not None),
                    key=lambda r: r["final"][metric])
    if not ranked:
        return []
    files = []
    for which, record in (("best", ranked[-1]), ("worst", ranked[0])):
        h = record["history"]
        fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.2]})
        for split, style in LINESTYLES.items():
            label = {"train": "train", "val": "validation", "test": "test"}[split]
            ax_loss.plot(h["epoch"], h[f"{split}_loss"], style, label=label)
        ax_loss.set_yscale("log")
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (log scale)", title="loss through training")
        ax_loss.grid(alpha=0.3, which="both")
        ax_loss.legend()
        draw_regions(ax_map, record, ctx)
        fig.suptitle(f"{title}: {which} by {METRIC_LABELS.get(metric, metric)} = "
                     f"{record['final'][metric]:.3f} ({run_label(record)})")
        files.append(save(fig, out / f"{which}.png"))
    return files


FIGURES: dict[str, tuple[Callable, set[str]]] = {
    "curves": (curves, {"metrics", "facet", "file"}),
    "accuracy_vs": (accuracy_vs, {"x", "where", "file"}),
    "gradients": (gradients, {"layers", "file"}),
    "regions": (regions, {"file"}),
    "best_worst": (best_worst, {"metric", "file"}),
}
HISTORY_METRICS = set(METRIC_LABELS)


def check_figure(spec: dict, cfg_type: type, figures: dict = FIGURES) -> None:
    """Reject unknown figure kinds, options and metrics before training."""
    from engine.config import resolve_key

    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in figures:
        raise BenchError(f"unknown figure kind {kind!r} (known: {', '.join(figures)})")
    allowed = figures[kind][1] | {"kind"}
    for key in spec:
        if key not in allowed:
            raise BenchError(f"figure '{kind}': unknown option '{key}' (allowed: {', '.join(sorted(allowed))})")
    for metric in spec.get("metrics", []):
        if metric not in HISTORY_METRICS:
            raise BenchError(f"figure '{kind}': unknown metric '{metric}' (known: {', '.join(sorted(HISTORY_METRICS))})")
    for option in ("x", "facet"):
        if option in spec:
            spec[option] = resolve_key(cfg_type, spec[option])
    if "where" in spec:
        spec["where"] = {resolve_key(cfg_type, k): v for k, v in spec["where"].items()}


def summary_table(records: list[dict]) -> str:
    """Markdown table of an experiment's runs."""
    head = "| run | status | iterations/epoch | epochs | wall time (s) | train acc | val acc | test acc | best val acc |"
    lines = [head, "|" + "---|" * 9]
    for r in records:
        f = r.get("final") or {}
        h = r.get("history") or {}

        def num(v: Any, fmt: str = ".3f") -> str:
            return "—" if v is None else format(v, fmt)

        epochs = (h.get("epoch") or [0])[-1]
        lines.append(
            f"| {run_label(r)} | {r.get('status')} | {h.get('iterations_per_epoch', '—')} | {epochs} | "
            f"{num(h.get('wall_time'), '.2f')} | {num(f.get('train_accuracy'))} | {num(f.get('val_accuracy'))} | "
            f"{num(f.get('test_accuracy'))} | {num(f.get('best_val_accuracy'))} |"
        )
    return "\n".join(lines) + "\n"


__all__ = ["FIGURES", "check_figure", "run_curves", "summary_table", "get_value"]
