"""Figures of kind ``xor`` (STUDY Part C.3): loss curves per learning rate
and per initialisation, the solve-rate table, and the output surface of a
solved net. Each run is one (lr, init) setting over many seeds; its
``history["step_loss"]`` is the loss of every epoch averaged over the nets,
and ``record["xor"]`` holds every net's weights and whether it solved XOR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from engine.figures import rankable, save
from engine.io import write_json, write_text

from engine.trainers import xor as lab


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


# ------------------------------------------------------------- figure kinds
def setting(record: dict) -> tuple[float, str]:
    return record["config"]["optim"]["lr"], record["config"]["model"]["init"]


def solve_rate(record: dict) -> float:
    return (record.get("final") or {}).get("solve_rate") or 0.0


def best_run(records: list[dict]) -> dict | None:
    """Highest solve rate; ties: the lower final loss."""
    done = [r for r in rankable(records) if r.get("final")]
    return max(done, key=lambda r: (solve_rate(r), -(r["final"].get("loss") or np.inf))) if done else None


def loss_curves(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Left: one curve per lr at the best setting's init; right: one per init at its lr."""
    best = best_run(records)
    if best is None:
        return []
    best_lr, best_init = setting(best)
    loss = {setting(r): np.array(r["history"]["step_loss"], dtype=float) for r in records if r.get("history")}
    by_lr = {f"lr {lr:g}": v for (lr, init), v in sorted(loss.items()) if init == best_init}
    by_init = {init: v for (lr, init), v in sorted(loss.items()) if lr == best_lr}
    seeds = best["config"]["model"]["seeds"]
    fig = xor_loss_curves(by_lr, by_init, "epoch (full-batch gradient step)")
    fig.axes[0].set_title(f"per learning rate (init {best_init})")
    fig.axes[1].set_title(f"per initialisation (lr {best_lr:g})")
    fig.suptitle(f"{title}: mean squared error, mean over {seeds} nets (seeds)", y=1.04)
    return [save(fig, out / spec.get("file", "loss_curves.png"))]


def solve_table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """solve_rate.md/.json: the share of seeds that solve XOR per (lr, init)."""
    rows = [{"lr": setting(r)[0], "init": setting(r)[1], "seeds": r["config"]["model"]["seeds"],
             "epochs": r["config"]["optim"]["epochs"], "solve_rate": solve_rate(r),
             "final_loss": (r.get("final") or {}).get("loss"), "status": r.get("status")} for r in records]
    rows.sort(key=lambda row: (row["init"], row["lr"]))
    write_json(out / "solve_rate.json", rows)
    inits = sorted({row["init"] for row in rows})
    lrs = sorted({row["lr"] for row in rows})
    cell = {(row["lr"], row["init"]): row for row in rows}
    lines = [f"# {title}: share of seeds that solve XOR", "",
             "A net solves XOR when all four outputs are on the right side of 0.5 after training. "
             "Cells: solve rate (mean final loss).", "",
             "| learning rate | " + " | ".join(inits) + " |", "|---|" + "---|" * len(inits)]
    for lr in lrs:
        cells = []
        for init in inits:
            row = cell.get((lr, init))
            cells.append("—" if row is None else f"{row['solve_rate']:.0%} ({row['final_loss']:.3f})")
        lines.append(f"| {lr:g} | " + " | ".join(cells) + " |")
    if rows:
        best = max(rows, key=lambda row: (row["solve_rate"], -(row["final_loss"] or np.inf)))
        lines += ["", f"Best: lr {best['lr']:g}, {best['init']} init: {best['solve_rate']:.0%} of "
                      f"{best['seeds']} seeds after {best['epochs']} epochs."]
    write_text(out / "solve_rate.md", "\n".join(lines) + "\n")
    return ["solve_rate.md", "solve_rate.json"]


def surface(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Output over the unit square of the best setting's first solved net."""
    best = best_run(records)
    nets = (best or {}).get("xor") or {}
    if not nets or not any(nets["solved"]):
        return []
    index = nets["solved"].index(True)
    weights = {name: np.array(value)[index] for name, value in nets["weights"].items()}
    lr, init = setting(best)
    fig = xor_surface(lab.surface(weights, 60),
                      f"{title}: output of a solved net (lr {lr:g}, {init}, seed {nets['seeds'][index]})\n"
                      "black line: output 0.5; dots: targets 0 black, 1 white")
    return [save(fig, out / spec.get("file", "surface.png"))]
