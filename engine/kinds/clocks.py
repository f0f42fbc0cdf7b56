"""Kind ``clocks``: telling the time from analog clocks (STUDY Part C.5).

One run = one approach (``model.head``: regression with an MSE or a cyclic
loss, classification with k classes, or two heads) on the same small CNN; a
sweep over approaches is the lab. Error is in "common sense" minutes: the
shorter way round the 12-hour dial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.clocks import SPLIT_FRACTIONS, load_clocks
from engine.figures import clocks as figures
from engine.figures import generic_figures
from engine.kinds import FigureKind, Kind, Preview, per_split, register
from engine.kit import save_weights
from engine.trainers import clocks as trainer

METRICS = (per_split("loss", "lower", fmt=".4f")
           + per_split("error", "lower", short="err", unit="min", fmt=".1f"))


def load(cfg: trainer.ClockConfig, data_root: Path):
    return load_clocks(cfg.data.path or None, cfg.data.size, cfg.data.n, cfg.data.seed,
                       cache_dir=Path(data_root) / "cache" / "clocks")


def describe(data) -> dict:
    return {"name": "clocks", "source": data.source, "standin": data.standin, "sizes": data.sizes(),
            "split": "seeded permutation " + " / ".join(f"{s} {f:.0%}" for s, f in SPLIT_FRACTIONS.items()),
            "split_seed": data.seed, "image_size": data.size, "native_size": data.native_size}


def preview(data) -> Preview:
    """The first 24 training clocks as one grey sheet (3 rows of 8), with their times."""
    from engine.data.clocks import clock_text

    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    shown = data.x["train"][:24]
    rows = [np.hstack(list(shown[i:i + 8])) for i in range(0, len(shown), 8) if len(shown[i:i + 8]) == 8]
    sheet = np.vstack(rows) if rows else shown[0]
    times = " ".join(clock_text(m) for m in data.minutes("train")[:24])
    return Preview(f"{data.source}\nsplits: {sizes}; {data.size}x{data.size} grey; first times: {times}",
                   image=np.repeat(sheet[:, :, None], 3, axis=2))


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    """The test predictions into run.json, the weights (model.pt) and a per-run figure."""
    record.update(result.extra)
    written = save_weights(result.model, run_dir)
    if record.get("clocks"):
        written.append(figures.run_errors(record, run_dir / "test_errors.png"))
    return written


KIND = register(Kind(
    name="clocks",
    title="telling the time, Part C.5",
    description="STUDY Part C.5: regression, classification and two heads reading analog clocks",
    config_type=trainer.ClockConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"clocks": "a folder with images.npy (N, 150, 150) uint8 grey clocks and labels.npy (N, 2) "
                        "int (hour 0-11, minute 0-59)"},
    load_data=load,
    data_key=lambda cfg: ("clocks", cfg.data.path, cfg.data.size, None if cfg.data.path else cfg.data.n, cfg.data.seed),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="val_error",  # runs are ranked on validation, never on test
    shown=("train_loss", "val_error", "test_error"),
    step_loss_label="loss of the run's head (MSE, cross-entropy, or both)",
    figures={
        **generic_figures(),
        "table": FigureKind(figures.table, frozenset(), help="train / val / test error per approach (PNG, md, json)"),
        "error_vs_classes": FigureKind(figures.error_vs_classes, frozenset({"file"}),
                                       help="test error vs number of classes; regression and two heads as lines"),
        "gallery": FigureKind(figures.gallery, frozenset({"count"}),
                              help="the test clocks the best run reads worst (PNG grid + gallery.json)"),
    },
    default_figures=({"kind": "table"}, {"kind": "error_vs_classes"}, {"kind": "gallery"}),
    save_artifacts=save,
    figure_context=figures.ClockFigureContext,
))
