"""Matplotlib figures (PNG) for runs and experiments, shared by every kind.

Every figure is readable without explanation: a title, axis labels, a
legend. Files are written atomically. Figure functions take the run records
of one experiment (``run.json`` dicts with ``_dir`` set), the output folder,
the figure's spec from the preset, the experiment title and a
``FigureContext`` (which knows the kind: its metric labels, its data), and
return the file names they wrote. Kind-specific figures live in
``engine/figures/<kind>.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from engine.io import atomic_path  # noqa: E402

LINESTYLES = {"train": "-", "val": "--", "test": ":"}
SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


class FigureContext:
    """What figures may ask of the replay: the kind and its data. Kinds
    subclass it for figures that need a run's model or images."""

    def __init__(self, kind: Any, data_for: Callable[[Any], Any] = lambda cfg: None):
        self.kind, self.data_for = kind, data_for

    def label(self, metric: str) -> str:
        try:
            return self.kind.metric(metric).label
        except KeyError:
            return metric


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


def status_note(record: dict) -> str:
    return "" if record.get("status") == "ok" else f" [{record.get('status')}]"


def rankable(records: list[dict]) -> list[dict]:
    """The runs that may be called best or worst: not those ASHA pruned (cut short, not judged to the end)."""
    return [r for r in records if r.get("status") != "pruned"]


def seed_groups(records: list[dict]) -> dict[str, list[dict]]:
    """Runs of one setting over several seeds, by the setting's name (a run
    without seeds is a group of one)."""
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r.get("group") or run_label(r), []).append(r)
    return out


def first_of_each_setting(records: list[dict]) -> list[dict]:
    """One run per setting (the first seed): for figures drawn per run."""
    return [members[0] for members in seed_groups(records).values()]


def mean_band(series: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, min, max) over runs, up to the shortest run (a diverged or stopped seed ends early)."""
    length = min(len(v) for v in series)
    stacked = np.asarray([v[:length] for v in series], dtype=float)
    return stacked.mean(0), stacked.min(0), stacked.max(0)


def split_family(kind: Any, metric: str) -> list[tuple[str, str]]:
    """(split, metric name) for the train/val/test variants of ``metric``
    that the kind declares, e.g. val_accuracy -> train/val/test_accuracy."""
    base = metric.split("_", 1)[1] if metric.split("_", 1)[0] in LINESTYLES else metric
    names = {m.name for m in kind.metrics}
    return [(split, f"{split}_{base}") for split in LINESTYLES if f"{split}_{base}" in names]


def loss_metric(kind: Any) -> str | None:
    """The kind's validation loss, when it has one (the first metric ending in _loss on val)."""
    return next((m.name for m in kind.metrics if m.name.startswith("val_") and m.name.endswith("loss")), None)


# ------------------------------------------------------------ per-run figure
def run_curves(record: dict, path: Path, kind: Any) -> str:
    """Loss (when the kind has one) and the primary metric per epoch, per split."""
    h = record["history"]
    panels = [m for m in (loss_metric(kind), kind.primary) if m]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        m = kind.metric(metric)
        for split, name in split_family(kind, metric):
            if h.get(name):
                ax.plot(h["epoch"], h[name], LINESTYLES[split], label=SPLIT_LABELS[split])
        family = m.label.split(" ", 1)[-1] if m.name.startswith(("train_", "val_", "test_")) else m.label
        ylabel = kind.step_loss_label if metric.endswith("loss") else family
        ax.set(xlabel="epoch", ylabel=ylabel + (f" ({m.unit})" if m.unit else ""), title=family.split()[-1])
        if m.name.endswith("accuracy"):
            ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{record.get('experiment_title', '')}: {run_label(record)}{status_note(record)}")
    return save(fig, path)


# --------------------------------------------------------- experiment figures
def curves(records: list[dict], out: Path, spec: dict, title: str, ctx: FigureContext) -> list[str]:
    kind = ctx.kind
    metrics = spec.get("metrics") or [loss_metric(kind) or kind.primary]
    facet = spec.get("facet")
    groups: dict[Any, list[dict]] = {}
    for r in records:
        groups.setdefault(config_value(r, facet) if facet else None, []).append(r)
    fig, axes = plt.subplots(1, len(groups), figsize=(6.2 * len(groups), 4.4), sharey=True, squeeze=False)
    per_step = metrics == ["step_loss"]
    for ax, (group, members) in zip(axes[0], groups.items()):
        colors = plt.get_cmap("tab10")
        settings = seed_groups(members)
        for i, (setting, runs) in enumerate(settings.items()):
            for m_index, metric in enumerate(metrics):
                style = LINESTYLES.get(metric.split("_")[0], "-")
                color = colors(i if len(settings) > 1 else m_index)  # one setting per panel: a colour per metric
                label = setting + ("".join(sorted({status_note(r) for r in runs})))
                if len(runs) > 1:
                    label += f" (mean of {len(runs)} seeds; band: min-max)"
                if len(metrics) > 1:
                    label += f" {ctx.label(metric)}"
                if per_step:
                    mean, low, high = mean_band([r["history"].get("step_loss", []) for r in runs])
                    steps = np.arange(1, len(mean) + 1)
                    window = max(1, len(mean) // 100)
                    ax.plot(steps, mean, color=color, alpha=0.15, linewidth=0.5)
                    ax.plot(steps[window - 1 :], smooth(mean, window), color=color, label=label)
                    if len(runs) > 1:
                        ax.fill_between(steps[window - 1 :], smooth(low, window), smooth(high, window), color=color,
                                        alpha=0.2, linewidth=0)
                else:
                    mean, low, high = mean_band([r["history"][metric] for r in runs])
                    epochs = np.asarray(runs[0]["history"]["epoch"][: len(mean)])
                    pruned = any(r.get("status") == "pruned" for r in runs)
                    ax.plot(epochs, mean, style, color=color, label=label, alpha=0.6 if pruned else 1.0)
                    if pruned and len(mean):  # stopped early by ASHA: a cross where it was cut
                        ax.plot(epochs[-1:], mean[-1:], "x", color=color, markersize=8)
                    if len(runs) > 1:
                        ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
        if per_step:
            ax.set_xscale("log")
            ax.set_xlabel("step (batch), log scale; faint: raw, bold: moving average")
        else:
            ax.set_xlabel("epoch")
        if all(m.endswith("loss") for m in metrics):
            ax.set_yscale("log")
            ax.set_ylabel(f"{kind.step_loss_label} (log scale)")
        else:
            units = {kind.metric(m).unit for m in metrics} - {""}
            ax.set_ylabel(" / ".join(ctx.label(m) for m in metrics) + (f" ({', '.join(units)})" if units else ""))
        if facet:
            ax.set_title(f"{facet.split('.')[-1]} = {group}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: {', '.join(ctx.label(m) for m in metrics)}")
    name = spec.get("file") or f"{'_'.join(metrics)}{'_by_' + facet.split('.')[-1] if facet else ''}.png"
    return [save(fig, out / name)]


def metric_vs(records: list[dict], out: Path, spec: dict, title: str, ctx: FigureContext) -> list[str]:
    """The final train/validation/test value of a metric (default: the
    primary metric's family) against a config key."""
    kind = ctx.kind
    x_key = spec["x"]
    where = spec.get("where", {})
    chosen = [r for r in records if all(config_value(r, k) == v for k, v in where.items())]
    chosen = [r for r in chosen if r.get("final")]
    settings = sorted(seed_groups(chosen).values(), key=lambda runs: config_value(runs[0], x_key))
    xs = [config_value(runs[0], x_key) for runs in settings]
    metric = spec.get("metric", kind.primary)
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    seeds = max((len(runs) for runs in settings), default=1)
    for split, name in split_family(kind, metric) or [("val", metric)]:
        values = [[r["final"].get(name) for r in runs if r["final"].get(name) is not None] for runs in settings]
        means = [float(np.mean(v)) if v else np.nan for v in values]
        spread = [float(np.std(v)) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(xs, means, yerr=spread if seeds > 1 else None, fmt=LINESTYLES[split], marker="o", capsize=3,
                    label=SPLIT_LABELS[split] + (f" (mean ± sd of {seeds} seeds)" if seeds > 1 else ""))
    leaf = x_key.split(".")[-1]
    m = kind.metric(metric)
    family = m.label.split(" ", 1)[-1] if m.name.startswith(("train_", "val_", "test_")) else m.label
    ax.set(xlabel={"depth": "hidden layers (depth)", "width": "units per hidden layer (width)"}.get(leaf, leaf),
           ylabel=f"final {family}" + (f" ({m.unit})" if m.unit else ""))
    if leaf == "width":
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    cond = ", ".join(f"{k.split('.')[-1]} = {v}" for k, v in where.items())
    short = family.split()[-1]
    ax.set_title(f"{title}: {short} vs {leaf}" + (f" ({cond})" if cond else ""))
    ax.grid(alpha=0.3)
    ax.legend()
    return [save(fig, out / (spec.get("file") or f"{short}_vs_{leaf}.png"))]


@dataclass(frozen=True)
class FigureKind:
    """A figure a kind offers (``figures = [{kind = NAME, ...}]`` in presets)."""

    draw: Callable[..., list[str]]  # (records, out dir, spec, title, ctx) -> file names written
    options: frozenset[str] = frozenset()
    metric_options: tuple[str, ...] = ()  # options whose values must be metrics of the kind
    key_options: tuple[str, ...] = ()  # options whose values are config keys (resolved to dotted keys)
    help: str = ""
    over_seeds: bool = False  # draws the mean and spread over seeds; otherwise it gets one run (seed) per setting


def generic_figures() -> dict:
    """The figure kinds every kind can offer."""
    return {
        "curves": FigureKind(curves, frozenset({"metrics", "facet", "file"}), metric_options=("metrics",),
                             key_options=("facet",), help="metrics per epoch (or step_loss per step), facet KEY",
                             over_seeds=True),
        "accuracy_vs": FigureKind(metric_vs, frozenset({"x", "where", "metric", "file"}), metric_options=("metric",),
                                  key_options=("x", "where"), help="final metric vs a config key x, where {KEY = V}",
                                  over_seeds=True),
    }


def summary_table(records: list[dict], kind: Any) -> str:
    """Markdown table of an experiment's runs: the primary metric's
    train/val/test family and its best value over epochs; one row per
    setting, ``mean ± sd`` over its seeds where it has several."""
    columns = [name for _split, name in split_family(kind, kind.primary)] + [f"best_{kind.primary}"]
    metrics = [kind.metric(c) for c in columns]
    settings = seed_groups(records)
    with_seeds = any(len(runs) > 1 for runs in settings.values())
    head = ("| run | status | " + ("seeds | " if with_seeds else "") + "iterations/epoch | epochs | wall time (s) | "
            + " | ".join(m.short for m in metrics) + " |")
    lines = [head, "|" + "---|" * (5 + with_seeds + len(metrics))]

    def cell(values: list, fmt) -> str:
        values = [v for v in values if v is not None]
        if not values:
            return "—"
        if len(values) == 1:
            return fmt(values[0])
        return f"{fmt(float(np.mean(values)))} ± {fmt(float(np.std(values)))}"

    for setting, runs in settings.items():
        statuses = sorted({str(r.get("status")) for r in runs})
        h = runs[0].get("history") or {}
        epochs = (h.get("epoch") or [0])[-1]
        wall = cell([(r.get("history") or {}).get("wall_time") for r in runs], lambda v: format(v, ".2f"))
        row = (f"| {setting} | {', '.join(statuses)} | " + (f"{len(runs)} | " if with_seeds else "")
               + f"{h.get('iterations_per_epoch', '—')} | {epochs} | {wall} | ")
        row += " | ".join(cell([(r.get("final") or {}).get(m.name) for r in runs], m.format) for m in metrics)
        lines.append(row + " |")
    return "\n".join(lines) + "\n"
