"""Figures of kind ``clocks`` (STUDY Part C.5, telling the time).

Experiment figures read the runs' records (``final`` errors and
``record["clocks"]``: the test clocks' true and read times):
  * ``table``: train / validation / test error per approach (PNG, Markdown, JSON);
  * ``error_vs_classes``: test error against the number of classes (log x),
    regression and two heads as horizontal lines;
  * ``gallery``: the test clocks the best run reads worst, as a PNG grid and
    as ``gallery.json`` + one PNG per clock (the TUI's generic gallery).

The best run is chosen by validation error (choosing on test would be
optimistic); its test error is what the figures report.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from engine.data.clocks import clock_text, cyclic_error
from engine.figures import FigureContext, rankable, save
from engine.io import atomic_path, write_json, write_text
from engine.models.clocks import head_label

REPORTED = "course's reported test errors: regression 33-48 min, best classification 22.9 min, two heads 11.7 min"


# ------------------------------------------------------------------ record look-ups
def model_of(record: dict) -> dict:
    return record["config"]["model"]


def approach(record: dict) -> str:
    return head_label(model_of(record))


def order_key(record: dict) -> tuple:
    m = model_of(record)
    rank = {"regression": 0, "classification": 1, "two_head": 2}.get(m["head"], 3)
    return rank, 0 if m.get("loss") == "mse" else 1, m.get("classes", 0) if m["head"] == "classification" else 0


def final(record: dict, name: str) -> float | None:
    value = (record.get("final") or {}).get(name)
    return None if value is None or not math.isfinite(value) else float(value)


def data_note(records: list[dict]) -> str:
    sources = sorted({(r.get("data") or {}).get("source", "") for r in records})
    return "; ".join(s for s in sources if s)


def finished(records: list[dict]) -> list[dict]:
    return sorted((r for r in records if final(r, "test_error") is not None), key=order_key)


def chosen(records: list[dict]) -> dict | None:
    """The best run: lowest validation error (never chosen on test), among the
    runs that may be ranked (not those ASHA pruned)."""
    runs = [r for r in rankable(finished(records)) if final(r, "val_error") is not None]
    return min(runs, key=lambda r: final(r, "val_error")) if runs else None


def footnote(records: list[dict]) -> str:
    return textwrap.fill(data_note(records), 150) + "\n" + REPORTED


def fmt_min(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


# ------------------------------------------------------------------ table
def table_rows(records: list[dict]) -> list[dict]:
    rows = []
    for r in finished(records):
        history = r.get("history") or {}
        rows.append({"approach": approach(r), "run": r.get("name"), "status": r.get("status"),
                     "train_error": final(r, "train_error"), "val_error": final(r, "val_error"),
                     "test_error": final(r, "test_error"),
                     "test_max_error": ((r.get("clocks") or {}).get("max_error") or {}).get("test"),
                     "epochs": (history.get("epoch") or [0])[-1], "wall_time": history.get("wall_time")})
    return rows


def table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """clock_table.png / .md / .json: train, validation and test error (minutes) per approach."""
    rows = table_rows(records)
    write_json(out / "clock_table.json", rows)
    head = ["approach", "train error (min)", "val error (min)", "test error (min)", "worst test clock (min)",
            "epochs", "wall time (s)"]
    cells = [[row["approach"], fmt_min(row["train_error"]), fmt_min(row["val_error"]), fmt_min(row["test_error"]),
              fmt_min(row["test_max_error"]), str(row["epochs"]),
              "—" if row["wall_time"] is None else f"{row['wall_time']:.1f}"] for row in rows]
    lines = [f"# {title}: error per approach", "", f"Data: {data_note(records)}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    top = chosen(records)
    lines += ["", f"Errors are mean \"common sense\" minutes (the shorter way round the 12-hour dial). {REPORTED}."]
    if top is not None:
        lines += ["", f"Best run, chosen by validation error: {approach(top)} ({top.get('name')}), validation "
                      f"{fmt_min(final(top, 'val_error'))} min, test {fmt_min(final(top, 'test_error'))} min."]
    write_text(out / "clock_table.md", "\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(11, 0.3 * (len(cells) + 1) + 0.6))
    ax.axis("off")
    if cells:
        top = chosen(records)
        best = next((i for i, row in enumerate(rows) if top is not None and row["run"] == top.get("name")), None)
        shown = ax.table(cellText=cells, colLabels=head, loc="center", cellLoc="center")
        shown.auto_set_font_size(False)
        shown.set_fontsize(8)
        shown.scale(1, 1.35)
        for j in range(len(head)):
            if best is not None:
                shown[(best + 1, j)].set_facecolor("#dcefdc")
            shown[(0, j)].set_facecolor("#e4e4ee")
        shown.auto_set_column_width(list(range(len(head))))
    else:
        ax.text(0.5, 0.5, "no finished run", ha="center", va="center")
    ax.set_title(f"{title}\nmean error in minutes (the shorter way round the dial); green: lowest validation error (chosen on val, test reported)",
                 fontsize=10)
    fig.text(0.01, 0.0, footnote(records), fontsize=7, va="top")
    return [save(fig, out / "clock_table.png"), "clock_table.md", "clock_table.json"]


# ------------------------------------------------------------------ error vs classes
def error_vs_classes(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Test (and train) error of classification against k, log x; the other approaches as lines."""
    runs = finished(records)
    classified = sorted((r for r in runs if model_of(r)["head"] == "classification"),
                        key=lambda r: model_of(r)["classes"])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if classified:
        ks = [model_of(r)["classes"] for r in classified]
        ax.plot(ks, [final(r, "test_error") for r in classified], "o-", color="C0", label="classification, test")
        ax.plot(ks, [final(r, "train_error") for r in classified], "o--", color="C0", alpha=0.5,
                label="classification, train")
        ax.plot(ks, [180 / k for k in ks], ":", color="grey", label="floor: every class right (mean error 180/k)")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
    others = [r for r in runs if model_of(r)["head"] != "classification"]
    for i, r in enumerate(others):
        value = final(r, "test_error")
        ax.axhline(value, color=f"C{i + 1}", linestyle="-." if model_of(r)["head"] == "regression" else "-",
                   label=f"{approach(r)}, test ({value:.1f})")
    if not runs:
        ax.text(0.5, 0.5, "no finished run", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="number of classes k (each 720/k minutes; log scale)", ylabel="mean error (minutes)",
           ylim=(0, None))
    ax.set_title(f"{title}: test error vs number of classes", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    fig.text(0.01, -0.02, footnote(records), fontsize=7, va="top")
    return [save(fig, out / (spec.get("file") or "error_vs_classes.png"))]


# ------------------------------------------------------------------ gallery
def worst(record: dict, count: int) -> list[dict]:
    """The test clocks with the largest error, largest first (ties by index)."""
    test = record["clocks"]["test"]
    order = sorted(range(len(test["error"])), key=lambda i: (-test["error"][i], i))[:count]
    return [{"index": test["index"][i], "true": test["true"][i], "read": test["read"][i], "error": test["error"][i]}
            for i in order]


def gallery(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """The test clocks that the best run (lowest validation error) reads worst."""
    from PIL import Image

    best = chosen([r for r in records if (r.get("clocks") or {}).get("test")])
    if best is None:
        write_json(out / "gallery.json", {"title": f"{title}: no finished run", "note": data_note(records),
                                          "root": str(out.resolve()), "images": []})
        return ["gallery.json"]
    rows = worst(best, int(spec.get("count", 12)))
    standin = bool((best.get("data") or {}).get("standin"))
    note = (("STAND-IN clocks rendered by the bench, not the course's. " if standin else "")
            + f"Run {best.get('name')} ({approach(best)}), chosen by validation error "
            + f"{final(best, 'val_error'):.1f} min; test error {final(best, 'test_error'):.1f} min. "
            + data_note([best]))
    images, names = [], []
    for rank, row in enumerate(rows, start=1):
        pixels = ctx.test_image(best, row["index"])
        name = f"worst_{rank:02d}.png"
        with atomic_path(out / name) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
        names.append(name)
        images.append({
            "path": name,
            "label": f"true {clock_text(row['true'])} read {clock_text(row['read'])} ({row['error']:.0f} min)",
            "caption": (f"test clock {row['index']}\ntrue {clock_text(row['true'])}\n"
                        f"read {clock_text(row['read'])} ({row['read']:.1f} min on the dial)\n"
                        f"error {row['error']:.1f} min\n{approach(best)}"),
            "pixels": pixels,
        })
    write_json(out / "gallery.json", {
        "title": f"{title}: the {len(rows)} test clocks read worst by {approach(best)}",
        "note": note,
        "root": str(out.resolve()),
        "images": [{k: v for k, v in im.items() if k != "pixels"} for im in images],
    })
    columns = min(6, max(1, len(images)))
    grid_rows = max(1, math.ceil(len(images) / columns))
    fig, axes = plt.subplots(grid_rows, columns, figsize=(2.2 * columns, 2.6 * grid_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, im in zip(axes.flat, images):
        ax.imshow(im["pixels"], cmap="gray", vmin=0, vmax=255)
        ax.set_title(im["label"].replace(" read", "\nread"), fontsize=8)
    fig.suptitle(f"{title}: test clocks read worst by {approach(best)} ({best.get('name')})", fontsize=10)
    fig.text(0.01, 0.0, textwrap.fill(("STAND-IN clocks rendered by the bench. " if standin else "")
                                      + data_note([best]), 150), fontsize=7, va="top")
    return ["gallery.json", *names, save(fig, out / "gallery.png")]


# ------------------------------------------------------------------ per run
def run_errors(record: dict, path: Path) -> str:
    """Per-run figure: read vs true time of every test clock, and the errors' histogram."""
    test = record["clocks"]["test"]
    true, read = np.asarray(test["true"], float), np.asarray(test["read"], float)
    errors = cyclic_error(read, true)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.scatter(true / 60, read / 60, s=5, alpha=0.5)
    left.plot([0, 12], [0, 12], color="grey", linewidth=0.8)
    left.set(xlabel="true time (hours on the dial)", ylabel="time read (hours)", xlim=(0, 12), ylim=(0, 12),
             title="test clocks: read vs true")
    right.hist(errors, bins=np.linspace(0, 360, 37))
    right.set(xlabel="error (minutes, the shorter way round; at most 360)", ylabel="test clocks",
              title=f"mean {errors.mean():.1f} min, median {np.median(errors):.1f}, max {errors.max():.1f}")
    fig.suptitle(f"{record.get('experiment_title', '')}: {record.get('name')} ({approach(record)})", fontsize=10)
    return save(fig, path)


class ClockFigureContext(FigureContext):
    """Figures that show clocks reload the run's data (the same split, from its config)."""

    def test_image(self, record: dict, index: int) -> np.ndarray:
        from engine.config import from_dict

        data = self.data_for(from_dict(self.kind.config_type, record["config"]))
        truth = record["clocks"]["test"]["true"]
        if len(truth) != len(data.y["test"]) or data.minutes("test")[index] != truth[index]:
            raise ValueError(f"run {record.get('name')}: its test clocks are not those of the data loaded now")
        return data.x["test"][index]
