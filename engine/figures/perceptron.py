"""Figures of kind ``perceptron`` (STUDY Part C.2): accuracy per epoch of
batch vs online updates, and the course's final table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from engine.figures import save
from engine.io import write_json, write_text


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


# ------------------------------------------------------------- figure kinds
def mode_of(record: dict) -> str:
    return record["config"]["model"]["mode"]


def run_history(record: dict) -> list[dict]:
    h = record.get("history") or {}
    return [{"epoch": e, "train_accuracy": a, "test_accuracy": b}
            for e, a, b in zip(h.get("epoch", []), h.get("train_accuracy", []), h.get("test_accuracy", []))]


def accuracy(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Train and test accuracy per epoch, one colour per run (batch, online)."""
    histories = {f"{mode_of(r)}, lr {r['config']['optim']['lr']:g}" if len(records) > 2 else mode_of(r):
                 run_history(r) for r in records}
    fig = perceptron_accuracy(histories, f"{title}: accuracy per epoch")
    return [save(fig, out / spec.get("file", "accuracy_per_epoch.png"))]


def table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """final_table.md/.json: per run, epochs run and the final train/test accuracy."""
    rows = []
    for r in records:
        f = r.get("final") or {}
        rows.append({"run": r.get("name"), "mode": mode_of(r), "lr": r["config"]["optim"]["lr"],
                     "epochs_run": (r.get("perceptron") or {}).get("epochs_run"),
                     "train_accuracy": f.get("train_accuracy"), "test_accuracy": f.get("test_accuracy"),
                     "status": r.get("status")})
    write_json(out / "final_table.json", rows)
    lines = [f"# {title}: final accuracy", "", "| updates | lr | epochs run | train accuracy | test accuracy |",
             "|---|---|---|---|---|"]
    for row in rows:
        pct = lambda v: "—" if v is None else f"{v:.2%}"  # noqa: E731
        lines.append(f"| {row['mode']} | {row['lr']:g} | {row['epochs_run']} | {pct(row['train_accuracy'])} | "
                     f"{pct(row['test_accuracy'])} |")
    write_text(out / "final_table.md", "\n".join(lines) + "\n")
    return ["final_table.md", "final_table.json"]
