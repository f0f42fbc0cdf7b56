"""Kind ``images``: five baselines on a two-class image folder (STUDY
Part B: real vs fake faces): XGBoost on pixels, ResNet18 from scratch, a
linear probe and a scikit-learn probe on frozen features, fine-tuning."""

from __future__ import annotations

from pathlib import Path

from engine.data.images import load_image_folder
from engine.figures import images as figures
from engine.kinds import FigureKind, Kind, Preview, per_split, register
from engine.trainers import images as trainer

METRICS = per_split("loss", "lower", fmt=".4f") + per_split("accuracy", "higher", short="acc")


def load(cfg: trainer.ImageTrainConfig, data_root: Path):
    from engine.data.images_standin import SOURCE, build_standin

    cache = Path(data_root) / "cache"
    if cfg.data.path:
        data = load_image_folder(cfg.data.path, cfg.data.image_size, cache / "images")
    else:
        folder = build_standin(cache / "faces_standin")
        data = load_image_folder(folder, cfg.data.image_size, cache / "images", source=SOURCE)
    data.cache_root = cache
    return data


def describe(data) -> dict:
    return {"name": "faces", "source": data.source, "sizes": data.sizes(), "class_names": data.class_names,
            "class_counts": data.class_counts(), "image_size": data.image_size,
            "skipped_files": data.skipped, "root": str(data.root) if data.root else None}


def preview(data) -> Preview:
    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    counts = ", ".join(f"{k} {v}" for k, v in data.class_counts()["train"].items())
    text = f"{data.source}\nsplits: {sizes}; {len(data.class_names)} classes; train: {counts}"
    if data.skipped:
        text += f"; {len(data.skipped)} files skipped"
    return Preview(text, image=data.x["train"][0].permute(1, 2, 0).numpy())


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return [figures.run_steps(record, run_dir / "steps.png")]


KIND = register(Kind(
    name="images",
    title="image baselines, real vs fake, Part B",
    description="STUDY Part B: real vs fake, five baselines",
    config_type=trainer.ImageTrainConfig,
    fit=trainer.fit,
    shared_prep=trainer.weights_key,
    check_config=trainer.check_config,
    datasets={"faces": "a folder with train/, val/, test/, each holding two class folders (real/, fake/)"},
    load_data=load,
    data_key=lambda cfg: ("faces", cfg.data.path, cfg.data.image_size),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="val_accuracy",
    shown=("train_loss", "val_loss", "val_accuracy", "test_accuracy"),
    step_loss_label="binary cross-entropy loss",
    figures={
        "accuracy_vs_lr": FigureKind(figures.lr_accuracy, frozenset({"file"}),
                                     help="test accuracy vs learning rate per baseline"),
        "lr_table": FigureKind(figures.lr_table, frozenset(), help="two best and the worst lr per baseline"),
        "gallery": FigureKind(figures.gallery, frozenset({"better", "worse", "count"}),
                              help="test images one baseline gets right and another wrong"),
    },
    default_figures=({"kind": "accuracy_vs_lr"}, {"kind": "lr_table"}, {"kind": "gallery"}),
    save_artifacts=save,
    figure_context=figures.ImageFigureContext,
    packages=("xgboost",),
))
