"""Figures of lab 4 (STUDY Part C.4): the accuracy table (train / validation
/ test per architecture per dataset, as Markdown, JSON and PNG) and the
validation accuracy per epoch per architecture, one panel per dataset.
Stand-in data is named as such in every title and row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.figures import plt, save, status_note
from engine.io import write_json, write_text

DATASET_TITLES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
ARCH_TITLES = {"mlp": "MLP", "cnn": "CNN"}
SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def is_standin(record: dict) -> bool:
    return "STAND-IN" in str((record.get("data") or {}).get("source", ""))


def dataset_label(record: dict) -> str:
    name = record["config"]["data"]["dataset"]
    return DATASET_TITLES.get(name, name) + (" (stand-in)" if is_standin(record) else "")


def groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Runs by (dataset, arch), in the lab's order (Fashion-MNIST first, MLP first); seeds together."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        out.setdefault((r["config"]["data"]["dataset"], r["config"]["model"]["arch"]), []).append(r)
    order = list(DATASET_TITLES)
    return dict(sorted(out.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 9,
                                                   list(ARCH_TITLES).index(kv[0][1]))))


def table_rows(records: list[dict]) -> list[dict]:
    rows = []
    for (dataset, arch), runs in groups(records).items():
        finals = [r.get("final") or {} for r in runs]
        row: dict[str, Any] = {"dataset": dataset, "dataset_label": dataset_label(runs[0]), "arch": arch,
                               "status": ", ".join(sorted({str(r.get("status")) for r in runs})),
                               "seeds": len(runs), "epochs": ((runs[0].get("history") or {}).get("epoch") or [0])[-1],
                               "parameters": ((runs[0].get("mlp_vs_cnn") or {}).get("parameters")),
                               "sizes": (runs[0].get("data") or {}).get("sizes")}
        for split, _ in SPLITS:
            values = [f.get(f"{split}_accuracy") for f in finals if f.get(f"{split}_accuracy") is not None]
            row[split] = float(np.mean(values)) if values else None
            row[f"{split}_sd"] = float(np.std(values)) if len(values) > 1 else None
        rows.append(row)
    return rows


def cell(row: dict, split: str) -> str:
    if row[split] is None:
        return "—"
    sd = row.get(f"{split}_sd")
    return f"{row[split]:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """accuracy_table.md / .json / .png: final train, validation and test accuracy per dataset and architecture."""
    rows = table_rows(records)
    write_json(out / "accuracy_table.json", rows)
    seeds = max((r["seeds"] for r in rows), default=1)
    lines = [f"# {title}: accuracy", "", "| dataset | model | images train / val / test | parameters | epochs | "
             "train | validation | test |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        sizes = row["sizes"] or {}
        size_text = " / ".join(f"{sizes.get(s, '?'):,}" if isinstance(sizes.get(s), int) else "?"
                               for s in ("train", "val", "test"))
        params = f"{row['parameters']:,}" if row["parameters"] else "—"
        note = "" if row["status"] == "ok" else f" [{row['status']}]"
        lines.append(f"| {row['dataset_label']} | {ARCH_TITLES.get(row['arch'], row['arch'])}{note} | {size_text} | "
                     f"{params} | {row['epochs']} | {cell(row, 'train')} | {cell(row, 'val')} | {cell(row, 'test')} |")
    if seeds > 1:
        lines += ["", f"mean ± sd over {seeds} seeds."]
    write_text(out / "accuracy_table.md", "\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(8.6, 0.6 + 0.45 * (len(rows) + 1)))
    ax.axis("off")
    body = [[row["dataset_label"], ARCH_TITLES.get(row["arch"], row["arch"]) + status_note({"status": row["status"]}),
             cell(row, "train"), cell(row, "val"), cell(row, "test")] for row in rows]
    tab = ax.table(cellText=body or [["no runs", "", "", "", ""]],
                   colLabels=["dataset", "model", "train acc", "validation acc", "test acc"], loc="center",
                   cellLoc="center", colWidths=[0.34, 0.12, 0.18, 0.18, 0.18])
    tab.auto_set_font_size(False)
    tab.set_fontsize(10)
    tab.scale(1, 1.6)
    tests = [row["test"] for row in rows]
    for i, row in enumerate(rows, start=1):  # the better test accuracy of each dataset in bold
        best = max((r["test"] for r in rows if r["dataset"] == row["dataset"] and r["test"] is not None), default=None)
        if row["test"] is not None and row["test"] == best and sum(t is not None for t in tests) > 1:
            tab[i, 4].set_text_props(fontweight="bold")
    ax.set_title(f"{title}: final accuracy per model and dataset" + (f" (mean of {seeds} seeds)" if seeds > 1 else "")
                 + "\nbold: the better test accuracy of each dataset", fontsize=10)
    return ["accuracy_table.md", "accuracy_table.json", save(fig, out / "accuracy_table.png")]


def curves(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """Validation accuracy per epoch per architecture (training accuracy dotted), a panel per dataset."""
    by_dataset: dict[str, dict[str, list[dict]]] = {}
    for (dataset, arch), runs in groups(records).items():
        by_dataset.setdefault(dataset, {})[arch] = runs
    panels = max(1, len(by_dataset))
    fig, axes = plt.subplots(1, panels, figsize=(5.6 * panels, 4.2), squeeze=False)
    colours = {"mlp": "tab:blue", "cnn": "tab:orange"}
    for ax, (dataset, archs) in zip(axes[0], by_dataset.items()):
        for arch, runs in archs.items():
            colour = colours.get(arch, "tab:grey")
            seeds = f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""
            for split, style, width in (("val", "-", 2.0), ("train", ":", 1.2)):
                series = [(r.get("history") or {}).get(f"{split}_accuracy") or [] for r in runs]
                length = min(len(s) for s in series)
                if not length:
                    continue
                mean = np.mean([s[:length] for s in series], axis=0)
                epochs = (runs[0].get("history") or {}).get("epoch", [])[:length]
                label = f"{ARCH_TITLES.get(arch, arch)} {SPLITS[[s for s, _ in SPLITS].index(split)][1]}{seeds}"
                ax.plot(epochs, mean, style, color=colour, linewidth=width, marker="o" if split == "val" else None,
                        markersize=3, label=label + "".join(sorted({status_note(r) for r in runs})))
        ax.set(xlabel="epoch", ylabel="accuracy", title=dataset_label(next(iter(archs.values()))[0]))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{title}: validation accuracy per epoch (dotted: training)")
    return [save(fig, out / (spec.get("file") or "accuracy_curves.png"))]
