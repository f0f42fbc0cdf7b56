"""Kind ``mlp_vs_cnn``: an MLP (3 hidden layers) vs a CNN (3 conv + 2 dense
layers) on Fashion-MNIST and CIFAR-10 (STUDY Part C.4). ``data.dataset``
picks the dataset; a sweep over ``model.arch`` x ``data.dataset`` is the
lab's table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.mlp_vs_cnn import load as load_images
from engine.figures import generic_figures, run_curves
from engine.figures import mlp_vs_cnn as figures
from engine.kinds import FigureKind, Kind, Preview, per_split, register
from engine.kit import save_weights
from engine.trainers import mlp_vs_cnn as trainer

METRICS = per_split("loss", "lower", fmt=".4f") + per_split("accuracy", "higher", short="acc")


def load(cfg: trainer.MLPvsCNNConfig, data_root: Path):
    d = cfg.data
    return load_images(d.dataset, d.path or None, d.train_per_class, d.test_per_class, d.val_fraction, d.seed,
                       cache_dir=Path(data_root) / "cache" / "mlp_vs_cnn")


def describe(data) -> dict:
    return {"name": data.name, "source": data.source, "standin": data.standin, "sizes": data.sizes(),
            "class_names": data.class_names,
            "image_shape": list(data.shape), "class_counts": data.class_counts()}


def preview(data) -> Preview:
    """The first 32 training images (4 rows of 8)."""
    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    c, h, w = data.shape
    images = data.x["train"][:32].transpose(0, 2, 3, 1)
    if c == 1:
        images = np.repeat(images, 3, axis=3)
    images = np.concatenate([images, np.zeros((32 - len(images), h, w, 3), np.uint8)])
    sheet = np.vstack([np.hstack(list(images[i:i + 8])) for i in range(0, 32, 8)])
    labels = " ".join(data.class_names[v] for v in data.y["train"][:8])
    return Preview(f"{data.source}\nsplits: {sizes}; {data.num_classes} classes; {c}x{h}x{w}; "
                   f"first row: {labels}", image=sheet)


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    written = save_weights(result.model, run_dir)
    if (record.get("history") or {}).get("epoch"):
        written.append(run_curves(record, run_dir / "curves.png", KIND))
    return written


KIND = register(Kind(
    name="mlp_vs_cnn",
    title="MLP vs CNN on Fashion-MNIST and CIFAR-10, Part C.4",
    description="STUDY Part C.4: an MLP (3 hidden layers) vs a CNN (3 conv + 2 dense) on two image datasets",
    config_type=trainer.MLPvsCNNConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"fashion_mnist": "a folder with the four gzipped IDX files (train-images-idx3-ubyte.gz, "
                               "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)",
              "cifar10": "CIFAR-10's python batches: cifar-10-batches-py/ (data_batch_1..5, test_batch, "
                         "batches.meta) or the folder that holds it"},
    load_data=load,
    data_key=lambda cfg: ("mlp_vs_cnn", cfg.data.dataset, cfg.data.path, cfg.data.train_per_class,
                          cfg.data.test_per_class, cfg.data.val_fraction, cfg.data.seed),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="val_accuracy",
    shown=("train_loss", "val_loss", "val_accuracy", "test_accuracy"),
    step_loss_label="cross-entropy loss",
    figures={
        **generic_figures(),
        "table": FigureKind(figures.table, frozenset(),
                            help="train / validation / test accuracy per model and dataset (PNG and Markdown)"),
        "accuracy_curves": FigureKind(figures.curves, frozenset({"file"}),
                                      help="validation accuracy per epoch per model, a panel per dataset"),
    },
    default_figures=({"kind": "table"}, {"kind": "accuracy_curves"}),
    save_artifacts=save,
))
