"""Figures of the ``mlp`` kind: gradient magnitude per layer, decision
regions over (long, lat), and the best and worst run with their regions."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from engine.config import from_dict
from engine.figures import LINESTYLES, FigureContext, rankable, run_label, save, status_note


class MLPFigureContext(FigureContext):
    """What the decision-region figures need: a run's model and its data."""

    @lru_cache(maxsize=64)
    def _grid(self, run_dir: str, config_json: str):
        from engine.trainers.mlp import load_model

        cfg = from_dict(self.kind.config_type, json.loads(config_json))
        data = self.data_for(cfg)
        state = torch.load(Path(run_dir) / "model.pt", map_location="cpu", weights_only=True)
        model = load_model(cfg, data.x["train"].shape[1], data.num_classes, state)
        everything = np.concatenate([data.x[s] for s in data.x])
        (lo_x, lo_y), (hi_x, hi_y) = everything.min(0), everything.max(0)
        pad_x, pad_y = 0.03 * (hi_x - lo_x), 0.03 * (hi_y - lo_y)
        gx, gy = np.meshgrid(np.linspace(lo_x - pad_x, hi_x + pad_x, 400), np.linspace(lo_y - pad_y, hi_y + pad_y, 300))
        points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            predicted = model(points).argmax(1).numpy().reshape(gx.shape)
        return gx, gy, predicted, data

    def region_grid(self, record: dict):
        gx, gy, predicted, _ = self._grid(record["_dir"], json.dumps(record["config"], sort_keys=True))
        return gx, gy, predicted

    def _data(self, record: dict):
        return self._grid(record["_dir"], json.dumps(record["config"], sort_keys=True))[3]

    def test_points(self, record: dict):
        data = self._data(record)
        return data.x["test"], data.y["test"]

    def num_classes(self, record: dict) -> int:
        return self._data(record).num_classes


def class_colors(n: int) -> ListedColormap:
    base = list(plt.get_cmap("tab20").colors) + list(plt.get_cmap("tab20b").colors) + list(
        plt.get_cmap("tab20c").colors
    )
    return ListedColormap(base[:n] if n <= len(base) else [base[i % len(base)] for i in range(n)])


def gradients(records: list[dict], out: Path, spec: dict, title: str, ctx: "MLPFigureContext") -> list[str]:
    """Mean ||grad||² per epoch of chosen layers, log scale. Exactly-zero
    values (dead ReLUs: no gradient at all) cannot sit on a log axis: they are
    drawn as open markers in a grey band at the bottom labelled "exactly 0",
    below every positive value, never as a tiny positive number."""
    layers = spec.get("layers", [0, 30, 60, 90, 95, 99])
    fig, axes = plt.subplots(1, len(records), figsize=(5.6 * len(records), 4.2), squeeze=False)
    for ax, r in zip(axes[0], records):
        grads = np.asarray(r["history"].get("grad_sq_norm", []), dtype=float)
        if grads.size == 0:
            ax.set_title(f"{run_label(r)}: no gradients recorded")
            continue
        epochs = np.arange(1, len(grads) + 1)
        colors = plt.get_cmap("viridis")
        shown = [layer for layer in layers if layer < grads.shape[1]]
        values = grads[:, shown] if shown else np.zeros((0, 0))
        positive = values[values > 0]
        # the zero band sits two decades below the smallest positive value
        zero_at = float(positive.min()) / 100 if positive.size else 1.0
        any_zero = bool((values == 0).any())
        with_zeros = [layer for layer in shown if (grads[:, layer] == 0).any()]
        for j, layer in enumerate(layers):
            if layer not in shown:
                continue
            color = colors(j / max(1, len(layers) - 1))
            g = grads[:, layer]
            zero = g == 0
            label = f"layer {layer}" + (": exactly 0" if zero.all() else ", some epochs exactly 0" if zero.any() else "")
            ax.plot(epochs, np.where(g > 0, g, np.nan), marker=".", color=color, label=label)
            if zero.any():
                # stagger the layers inside the band so that each one's markers stay visible
                k = with_zeros.index(layer) - (len(with_zeros) - 1) / 2
                ax.plot(epochs[zero], np.full(zero.sum(), zero_at * 1.7 ** k), linestyle="none", marker="v",
                        markerfacecolor="none", markersize=7, color=color)
        ax.set_yscale("log")
        if any_zero:
            ax.axhspan(zero_at / 5, zero_at * 5, color="0.85", zorder=0,
                       label="▽ exactly 0 (no gradient: dead ReLUs)")
            ax.text(0.01, zero_at * 5.5, "exactly 0", transform=ax.get_yaxis_transform(), fontsize=8,
                    va="bottom", color="0.3")
            top = float(positive.max()) * 4 if positive.size else zero_at * 100
            ax.set_ylim(zero_at / 10, top)
        ax.set(xlabel="epoch", ylabel="mean ||grad||² per step (log scale)", title=run_label(r) + status_note(r))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: gradient magnitude per layer (layer 0 = input layer)")
    return [save(fig, out / (spec.get("file") or "gradients.png"))]


def draw_regions(ax: plt.Axes, record: dict, ctx: "MLPFigureContext") -> None:
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


def regions(records: list[dict], out: Path, spec: dict, title: str, ctx: "MLPFigureContext") -> list[str]:
    fig, axes = plt.subplots(1, len(records), figsize=(6.5 * len(records), 5.6), squeeze=False)
    for ax, r in zip(axes[0], records):
        draw_regions(ax, r, ctx)
    fig.suptitle(f"{title}: decision regions (shade: predicted country; dots: test cities, true country)")
    return [save(fig, out / (spec.get("file") or "regions.png"))]


def best_worst(records: list[dict], out: Path, spec: dict, title: str, ctx: "MLPFigureContext") -> list[str]:
    metric = spec.get("metric", ctx.kind.primary)
    ranked = sorted((r for r in rankable(records) if r.get("final") and r["final"].get(metric) is not None),
                    key=lambda r: r["final"][metric], reverse=ctx.kind.metric(metric).better == "lower")
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
        fig.suptitle(f"{title}: {which} by {ctx.label(metric)} = "
                     f"{record['final'][metric]:.3f} ({run_label(record)})")
        files.append(save(fig, out / f"{which}.png"))
    return files
