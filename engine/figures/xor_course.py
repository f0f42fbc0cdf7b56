"""Figures of kind ``xor_course`` (STUDY Part C.3 as the course ran it): the
distribution of iterations to solve per (init, lr), unsolved nets shown at
the cap, and its table. Each run's ``record["xor_course"]["nets"]`` lists
every net (init, lr, seed, solved, iterations); the nets of every replay
seed of a setting are pooled (they are different nets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from engine.figures import save
from engine.io import write_json, write_text

Setting = tuple[str, float]  # (init, lr)


def nets_by_setting(records: list[dict]) -> tuple[dict[Setting, list[dict]], int | None]:
    """Every net of these runs by (init, lr), and the cap (None if the runs disagree or have none)."""
    nets: dict[Setting, list[dict]] = {}
    caps = set()
    for r in records:
        block = r.get("xor_course") or {}
        caps.add(block.get("cap"))
        for net in block.get("nets") or []:
            nets.setdefault((net["init"], float(net["lr"])), []).append(net)
    return dict(sorted(nets.items())), (caps.pop() if len(caps) == 1 else None)


def summary(nets: list[dict], cap: int) -> dict:
    """Solved count and rate (95 % Wilson interval), median and quartiles of
    the iterations to solve with the unsolved nets counted at the cap."""
    n, k = len(nets), sum(net["solved"] for net in nets)
    counted = np.array([net["iterations"] if net["solved"] else cap for net in nets], dtype=float)
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    q1, median, q3 = np.percentile(counted, [25, 50, 75])
    return {"nets": n, "solved": k, "solve_rate": k / n, "solve_rate_interval": [float(ci.low), float(ci.high)],
            "median_iterations": float(median), "quartiles": [float(q1), float(q3)], "cap": cap}


def iterations_figure(nets: dict[Setting, list[dict]], cap: int, title: str = "") -> Figure:
    """One panel per initialisation, one column of dots per learning rate:
    every solved net at its iterations to solve, every unsolved net (red x)
    at the cap; a black bar marks the median with the unsolved at the cap."""
    inits = sorted({init for init, _ in nets})
    lrs = sorted({lr for _, lr in nets})
    fig = Figure(figsize=(5.0 * len(inits) + 1.0, 4.6))
    axes = np.atleast_1d(fig.subplots(1, len(inits), sharey=True, squeeze=False)[0])
    rng = np.random.default_rng(0)  # the jitter only; the same picture every time
    for ax, init in zip(axes, inits):
        for x, lr in enumerate(lrs):
            group = nets.get((init, lr)) or []
            if not group:
                continue
            solved = np.array([n["iterations"] for n in group if n["solved"]], dtype=float)
            stuck = len(group) - len(solved)
            ax.scatter(x + rng.uniform(-0.25, 0.25, len(solved)), solved, s=9, alpha=0.5, color="C0",
                       label="solved net" if x == 0 else None)
            if stuck:
                ax.scatter(x + rng.uniform(-0.25, 0.25, stuck), np.full(stuck, cap), s=18, marker="x", color="C3",
                           label="unsolved net (at the cap)" if not any(
                               h.get_label() == "unsolved net (at the cap)" for h in ax.collections) else None)
            s = summary(group, cap)
            ax.hlines(s["median_iterations"], x - 0.35, x + 0.35, color="black", linewidth=2.2,
                      label="median (unsolved at the cap)" if x == 0 else None)
            ax.annotate(f"{s['solved']}/{s['nets']} solved", (x, cap), xytext=(0, 8), textcoords="offset points",
                        ha="center", fontsize=8)
        ax.axhline(cap, color="C3", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_xlim(-0.6, len(lrs) - 0.4)
        ax.set_ylim(0, cap * 1.12)
        ax.set_xlabel("learning rate")
        ax.set_title(f"{init} initialisation")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel(f"iterations to solve XOR (cap {cap:,})")
    axes[0].legend(loc="center left", fontsize=8)
    fig.suptitle(title or "XOR as the course ran it: iterations until solved, per net", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------- figure kinds
def iterations(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    nets, cap = nets_by_setting(records)
    if not nets or cap is None:
        return []
    total = sum(len(v) for v in nets.values())
    fig = iterations_figure(nets, cap, f"{title}: iterations until solved, {total} nets "
                                       f"(full-batch gradient steps; unsolved after {cap:,} drawn at the cap)")
    return [save(fig, out / spec.get("file", "iterations.png"))]


def iterations_table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """iterations.md/.json: per (init, lr) the nets solved (rate and 95 % Wilson
    interval) and the median iterations to solve, the unsolved at the cap."""
    nets, cap = nets_by_setting(records)
    if not nets or cap is None:
        return []
    rows = [{"init": init, "lr": lr, **summary(group, cap)} for (init, lr), group in nets.items()]
    write_json(out / "iterations.json", rows)
    lines = [f"# {title}: iterations until XOR is solved", "",
             f"Each net trains until all four outputs are on the right side of 0.5, or {cap:,} full-batch "
             "gradient steps (the cap; an unsolved net is counted there). Nets of every seed pooled.", "",
             "| init | learning rate | nets | solved (95 % interval) | median iterations | quartiles |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        low, high = row["solve_rate_interval"]
        lines.append(f"| {row['init']} | {row['lr']:g} | {row['nets']} | {row['solved']} = {row['solve_rate']:.0%} "
                     f"({low:.0%}–{high:.0%}) | {row['median_iterations']:,.0f} | "
                     f"{row['quartiles'][0]:,.0f}–{row['quartiles'][1]:,.0f} |")
    best = min(rows, key=lambda row: (row["median_iterations"], -row["solve_rate"]))
    lines += ["", f"Fewest iterations (median): lr {best['lr']:g}, {best['init']} init, "
                  f"{best['median_iterations']:,.0f} iterations; {best['solved']} of {best['nets']} nets solved."]
    write_text(out / "iterations.md", "\n".join(lines) + "\n")
    return ["iterations.md", "iterations.json"]
