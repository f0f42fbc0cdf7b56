"""Figures and tables of the image study (STUDY Part B): test accuracy vs
learning rate per baseline, the two best and worst learning rates, and the
gallery of test images one model gets right and another gets wrong."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from engine.figures import FigureContext, rankable, save
from engine.io import write_json, write_text
from engine.studies.part_b import chosen_on_validation

MODE_LABELS = {
    "xgboost": "XGBoost (pixels)",
    "scratch": "ResNet18 from scratch",
    "linear_probe": "linear probe",
    "sklearn_probe": "sklearn LogisticRegression probe",
    "finetune": "fine-tuning",
}
ORDER = list(MODE_LABELS)


def mode_of(record: dict) -> str:
    return record["config"]["model"]["mode"]


def test_accuracy(record: dict) -> float | None:
    value = (record.get("final") or {}).get("test_accuracy")
    return None if value is None or not math.isfinite(value) else value


def weights_note(records: list[dict]) -> str:
    labels = sorted({r["weights"]["label"] for r in records if r.get("weights")})
    return "pretrained weights: " + "; ".join(labels) if labels else ""


def data_note(records: list[dict]) -> str:
    sources = sorted({(r.get("data") or {}).get("source", "") for r in records})
    return "; ".join(s for s in sources if s)


def by_mode(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(mode_of(r), []).append(r)
    return {m: out[m] for m in ORDER if m in out}


def lr_accuracy(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.get_cmap("tab10")
    for i, (mode, members) in enumerate(by_mode(records).items()):
        if mode in ("xgboost", "sklearn_probe"):  # no learning rate: a horizontal line
            acc = test_accuracy(members[0])
            if acc is not None:
                ax.axhline(acc, color=colors(i), linestyle="--", label=f"{MODE_LABELS[mode]} ({acc:.3f})")
            continue
        points = sorted((r["config"]["optim"]["lr"], test_accuracy(r), r["status"]) for r in members)
        xs = [p[0] for p in points]
        ys = [p[1] if p[1] is not None else np.nan for p in points]
        ax.plot(xs, ys, marker="o", color=colors(i), label=MODE_LABELS[mode])
        for x, y, status in points:
            if status != "ok":
                ax.annotate(status, (x, 0.5 if y is None or np.isnan(y) else y), fontsize=8, color="red")
    ax.axhline(0.5, color="grey", linewidth=0.8, label="chance (0.5)")
    ax.set_xscale("log")
    ax.set(xlabel="learning rate (Adam, log scale)", ylabel="test accuracy", ylim=(0.3, 1.02))
    ax.set_title(f"{title}: test accuracy vs learning rate", fontsize=11)
    notes = "\n".join(n for n in (data_note(records), weights_note(records)) if n)
    fig.text(0.01, -0.02, notes, fontsize=7, va="top", wrap=True)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    return [save(fig, out / (spec.get("file") or "accuracy_vs_lr.png"))]


def lr_table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Per baseline: the two best and the worst learning rate by test accuracy."""
    rows = []
    for mode, members in by_mode(rankable(records)).items():
        ranked = sorted(members, key=lambda r: -1.0 if test_accuracy(r) is None else test_accuracy(r), reverse=True)
        picks = [("best", ranked[0])]
        if len(ranked) > 1:
            picks.append(("second best", ranked[1]))
        if len(ranked) > 2:
            picks.append(("worst", ranked[-1]))
        for rank, r in picks:
            lr = r["config"]["optim"]["lr"] if mode not in ("xgboost", "sklearn_probe") else None
            rows.append({"baseline": mode, "rank": rank, "lr": lr, "test_accuracy": test_accuracy(r),
                         "val_accuracy": (r.get("final") or {}).get("val_accuracy"), "status": r["status"],
                         "run": r["name"]})
    write_json(out / "lr_table.json", rows)
    lines = [f"# {title}: two best and the worst learning rate per baseline", "",
             data_note(records), "", weights_note(records), "",
             "| baseline | rank | learning rate | test accuracy | val accuracy | status |", "|---|---|---|---|---|---|"]
    for row in rows:
        acc = "—" if row["test_accuracy"] is None else f"{row['test_accuracy']:.3f}"
        val = "—" if row["val_accuracy"] is None else f"{row['val_accuracy']:.3f}"
        lr = "—" if row["lr"] is None else f"{row['lr']:g}"
        lines.append(f"| {MODE_LABELS[row['baseline']]} | {row['rank']} | {lr} | {acc} | {val} | {row['status']} |")
    write_text(out / "lr_table.md", "\n".join(lines) + "\n")
    return ["lr_table.md", "lr_table.json"]


def best_of(records: list[dict], mode: str) -> dict | None:
    """The baseline's run with the learning rate chosen on validation (as the report's comparisons choose it)."""
    return chosen_on_validation([r for r in rankable(records) if mode_of(r) == mode and test_accuracy(r) is not None
                                 and (r.get("predictions") or {}).get("test")])


def gallery_rows(better: dict, worse: dict) -> list[dict]:
    """Test images the first run gets right and the second gets wrong."""
    a, b = better["predictions"]["test"], worse["predictions"]["test"]
    rows = []
    for i, (name, label) in enumerate(zip(a["file"], a["label"])):
        pa, pb = a["prob"][i], b["prob"][i]
        if pa is None or pb is None:
            continue
        if (pa > 0.5) == bool(label) and (pb > 0.5) != bool(label):
            rows.append({"index": i, "file": name, "true_class": label, "better_prob": pa, "worse_prob": pb})
    return rows


def gallery(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    better_mode, worse_mode = spec.get("better", "finetune"), spec.get("worse", "scratch")
    better, worse = best_of(records, better_mode), best_of(records, worse_mode)
    if better is None or worse is None:
        write_json(out / "gallery.json", {"error": f"no finished {better_mode} or {worse_mode} run"})
        return ["gallery.json"]
    rows = gallery_rows(better, worse)
    positive = better["predictions"]["test"]["positive_class"]
    class_names = ctx.class_names(better)
    for row in rows:  # the generic fields every gallery has (the TUI's gallery reads only these)
        truth = class_names[row["true_class"]] if row["true_class"] < len(class_names) else f"class {row['true_class']}"
        row.update(path=row["file"], label=f"{Path(row['file']).name}  P({positive}) "
                   f"{row['better_prob']:.2f} vs {row['worse_prob']:.2f}",
                   caption=f"{row['file']}\ntrue: {truth}; P({positive}): {better_mode} {row['better_prob']:.3f}, "
                   f"{worse_mode} {row['worse_prob']:.3f}")
    write_json(out / "gallery.json", {
        "title": (f"{len(rows)} test images right by {better_mode} ({better['name']}, acc "
                  f"{test_accuracy(better):.3f}) and wrong by {worse_mode} ({worse['name']}, acc "
                  f"{test_accuracy(worse):.3f})"),
        "note": " ".join(n for n in (weights_note([better, worse]), data_note([better])) if n),
        "better": {"run": better["name"], "mode": better_mode, "test_accuracy": test_accuracy(better)},
        "worse": {"run": worse["name"], "mode": worse_mode, "test_accuracy": test_accuracy(worse)},
        "probabilities_are_of": positive,
        "class_names": ctx.class_names(better),
        "weights": weights_note([better, worse]),
        "data": data_note([better]),
        "root": (better.get("data") or {}).get("root"),
        "images": rows,
    })
    shown = rows[: int(spec.get("count", 5))]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(3.2 * max(1, len(shown)), 4.0), squeeze=False)
    for ax, row in zip(axes[0], shown):
        ax.imshow(ctx.test_image(better, row["index"]))
        ax.set_title(f"{Path(row['file']).name}\ntrue: {class_names[row['true_class']]}\n"
                     f"P({positive}) {better_mode} {row['better_prob']:.2f}\n"
                     f"P({positive}) {worse_mode} {row['worse_prob']:.2f}", fontsize=8)
        ax.axis("off")
    if not shown:
        axes[0][0].text(0.5, 0.5, "no test image is right for the first model\nand wrong for the second",
                        ha="center", va="center")
        axes[0][0].axis("off")
    fig.suptitle(f"{title}: right by {MODE_LABELS[better_mode]} ({better['name']}), "
                 f"wrong by {MODE_LABELS[worse_mode]} ({worse['name']}); {len(rows)} in all", fontsize=10)
    fig.text(0.01, -0.02, "\n".join(n for n in (data_note([better]), weights_note([better, worse])) if n),
             fontsize=7, va="top")
    return ["gallery.json", save(fig, out / "gallery.png")]


def run_steps(record: dict, path: Path) -> str:
    """Per-run figure: training loss per step."""
    h = record["history"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    if h.get("step_loss"):
        ax.plot(np.arange(1, len(h["step_loss"]) + 1), h["step_loss"], marker=".")
    else:
        ax.text(0.5, 0.5, "no gradient steps (fitted in one go)", ha="center", va="center", transform=ax.transAxes)
    acc = test_accuracy(record)
    ax.set(xlabel="step", ylabel="BCE loss", title=f"{record.get('experiment_title', '')}: {record.get('name')}"
           + (f" (test acc {acc:.3f})" if acc is not None else ""))
    ax.grid(alpha=0.3)
    if record.get("weights"):
        fig.text(0.01, -0.02, f"weights: {record['weights']['label']}", fontsize=7, va="top")
    return save(fig, path)


class ImageFigureContext(FigureContext):
    def _data(self, record: dict):
        from engine.config import from_dict

        return self.data_for(from_dict(self.kind.config_type, record["config"]))

    def class_names(self, record: dict) -> list[str]:
        return self._data(record).class_names

    def test_image(self, record: dict, index: int) -> np.ndarray:
        data = self._data(record)
        name = record["predictions"]["test"]["file"][index]
        position = data.files["test"].index(name)
        return data.x["test"][position].permute(1, 2, 0).numpy()
