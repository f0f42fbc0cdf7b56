"""Kind ``digits``: distances on the course's small MNIST (STUDY Part C.1).

One run = one space (the 256-d pixels, or a 2-D PCA / t-SNE / UMAP
embedding) with both classifiers (nearest centre, k-NN): a sweep over
``model.space`` is the lab's table, each embedding is computed once, and the
Runs table ranks spaces by k-NN test accuracy. Nothing is trained by
gradients: the run's one "epoch" has three steps (embed, centres, k-NN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.digits import load_digits
from engine.figures import digits as figures
from engine.kinds import FigureKind, Kind, Metric, Preview, register
from engine.trainers import digits as trainer

METRICS = tuple(
    Metric(f"{split}_{classifier}_accuracy", f"{split} {label} accuracy", f"{split} {short}", "higher", fmt=".4f")
    for classifier, label, short in (("centre", "nearest-centre", "centre"), ("knn", "k-NN", "k-NN"))
    for split in ("train", "test")
)


def load(cfg, data_root: Path):
    return load_digits(cfg.data.path or None, cache_dir=Path(data_root) / "cache" / "digits")


def describe(data) -> dict:
    return {"name": "digits", "source": data.source, "standin": data.standin, "sizes": data.sizes(),
            "class_names": data.class_names}


def preview(data) -> Preview:
    """The first 40 training digits as one grey sheet (5 rows of 8)."""
    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    digits = data.x["train"][:40].reshape(-1, 16, 16)
    rows = [np.hstack(list(digits[i:i + 8])) for i in range(0, len(digits), 8)]
    sheet = ((np.vstack(rows) + 1) * 127.5).astype(np.uint8)
    labels = " ".join(str(v) for v in data.y["train"][:40])
    return Preview(f"{data.source}\nsplits: {sizes}; 16x16 grey digits in [-1, 1]; first 40 labels: {labels}",
                   image=np.repeat(sheet[:, :, None], 3, axis=2))


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return []


KIND = register(Kind(
    name="digits",
    title="distances on digits, Part C.1",
    description="STUDY Part C.1: class centres, embeddings, nearest-centre and k-NN classifiers",
    config_type=trainer.DigitsConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"digits": "a folder with train_in.csv, train_out.csv, test_in.csv, test_out.csv "
                        "(16x16 digits in [-1, 1], labels 0-9)"},
    load_data=load,
    data_key=lambda cfg: ("digits", cfg.data.path),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="test_knn_accuracy",
    shown=("train_centre_accuracy", "test_centre_accuracy", "train_knn_accuracy", "test_knn_accuracy"),
    step_loss_label="(no loss: nothing is trained by gradients)",
    figures={
        "distances": FigureKind(figures.distances, frozenset({"file"}),
                                help="heat map of the distances between class centres (the 256-d run)"),
        "embeddings": FigureKind(figures.embeddings, frozenset({"file"}),
                                 help="training digits in each 2-D embedding, coloured by digit"),
        "confusion": FigureKind(figures.confusions, frozenset({"spaces", "split"}),
                                help="confusion matrices of both classifiers per space"),
        "table": FigureKind(figures.table, frozenset(), help="correct / incorrect / accuracy per classifier, space, split"),
    },
    default_figures=({"kind": "distances"}, {"kind": "embeddings"}, {"kind": "table"}),
    save_artifacts=save,
    packages=("scikit-learn", "umap-learn"),
))
