"""Kind ``xor``: a 2-2-1 sigmoid net with hand-written backpropagation
(STUDY Part C.3). One run = one (learning rate, initialisation) setting
with ``model.seeds`` nets trained together as one numpy array computation:
XOR nets often stick in a local minimum, so a single net says little, and
the share of seeds that solve XOR (the primary metric) is the lab's
answer. Loss and solve rate stream every ``optim.log_every`` epochs."""

from __future__ import annotations

from pathlib import Path

from engine.figures import generic_figures
from engine.figures import xor as figures
from engine.kinds import FigureKind, Kind, Metric, Preview, register
from engine.trainers import xor as trainer


def load(cfg, data_root: Path) -> dict:
    return {"inputs": trainer.INPUTS, "targets": trainer.TARGETS}


def preview(data) -> Preview:
    x, t = data["inputs"], data["targets"]
    return Preview("the four XOR points, built in (nothing to load): "
                   + ", ".join(f"({a:g}, {b:g}) -> {v:g}" for (a, b), v in zip(x, t)),
                   scatter={"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "color": [int(v) for v in t],
                            "title": "XOR: colour = target", "xlabel": "x1", "ylabel": "x2"})


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return []


KIND = register(Kind(
    name="xor",
    title="XOR net from scratch, Part C.3",
    description="STUDY Part C.3: 2-2-1 sigmoid net, MSE, gradient descent; solve rate over seeds",
    config_type=trainer.XorConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"xor": "built in: the four XOR points (no folder is read)"},
    load_data=load,
    data_key=lambda cfg: ("xor",),
    describe_data=lambda data: {"name": "xor", "source": "the four XOR points (built in)", "standin": False,
                                "sizes": {"train": 4}},
    preview=preview,
    metrics=(
        Metric("loss", "mean squared error (mean over seeds)", "loss", "lower", fmt=".4f"),
        Metric("solve_rate", "share of seeds that solve XOR", "solved", "higher", fmt=".2f"),
    ),
    primary="solve_rate",
    shown=("loss", "solve_rate"),
    step_loss_label="mean squared error (mean over seeds)",
    figures={
        **generic_figures(),
        "loss_curves": FigureKind(figures.loss_curves, frozenset({"file"}),
                                  help="loss per epoch per lr (best init) and per init (best lr)"),
        "solve_table": FigureKind(figures.solve_table, frozenset(), help="share of seeds solved per (lr, init)"),
        "surface": FigureKind(figures.surface, frozenset({"file"}), help="output of a solved net over the unit square"),
    },
    default_figures=({"kind": "loss_curves"}, {"kind": "solve_table"}, {"kind": "surface"}),
    save_artifacts=save,
))
