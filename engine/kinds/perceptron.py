"""Kind ``perceptron``: a multi-class perceptron in numpy on the digits
(STUDY Part C.2). One run = one update schedule (batch or online) at one
learning rate; accuracy on train and test streams per epoch. It reads the
same ``digits`` dataset as the distance lab (``--data digits=DIR``)."""

from __future__ import annotations

from pathlib import Path

from engine.figures import generic_figures
from engine.figures import perceptron as figures
from engine.kinds import FigureKind, Kind, Metric, StepChart, register
from engine.kinds import digits as digits_kind
from engine.trainers import perceptron as trainer

METRICS = (
    Metric("train_accuracy", "train accuracy", "train acc", "higher", fmt=".4f"),
    Metric("test_accuracy", "test accuracy", "test acc", "higher", fmt=".4f"),
)


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return []


KIND = register(Kind(
    name="perceptron",
    title="multi-class perceptron on digits, Part C.2",
    description="STUDY Part C.2: a numpy perceptron, batch vs online updates",
    config_type=trainer.PerceptronConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets=dict(digits_kind.KIND.datasets),
    load_data=digits_kind.load,
    data_key=lambda cfg: ("digits", cfg.data.path),
    describe_data=digits_kind.describe,
    preview=digits_kind.preview,
    metrics=METRICS,
    primary="test_accuracy",
    shown=("train_accuracy", "test_accuracy"),
    step_loss_label="training examples misclassified (updates) per epoch",
    step_chart=StepChart("misclassified", "epoch", log=False),
    figures={
        **generic_figures(),
        "accuracy": FigureKind(figures.accuracy, frozenset({"file"}), help="train/test accuracy per epoch per run"),
        "table": FigureKind(figures.table, frozenset(), help="final train/test accuracy per run"),
    },
    default_figures=({"kind": "accuracy"}, {"kind": "table"}),
    save_artifacts=save,
))
