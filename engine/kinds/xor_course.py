"""Kind ``xor_course``: STUDY Part C.3 run as the course ran it. The ``xor``
kind's 2-2-1 sigmoid net and initialisations, but each net trained until it
solves XOR or reaches a stated cap (``optim.max_iterations``), and the
iterations it took counted; the best setting is the one with the fewest
iterations (median over many nets, unsolved nets counted at the cap). One
run = one (init, lr) setting of ``model.nets`` nets; the runs of an
experiment train together as one array of nets (``stack_key``). run.json's
``xor_course.nets`` lists every net: seed, init, lr, solved, iterations."""

from __future__ import annotations

from pathlib import Path

from engine.figures import generic_figures
from engine.figures import xor_course as figures
from engine.kinds import FigureKind, Kind, Metric, register
from engine.kinds.xor import load, preview
from engine.trainers import xor_course as trainer


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return []


KIND = register(Kind(
    name="xor_course",
    title="XOR as the course ran it, Part C.3",
    description="STUDY Part C.3 with the course's protocol: each net trained until solved or a cap; "
                "iterations to solve per net",
    config_type=trainer.XorCourseConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"xor": "built in: the four XOR points (no folder is read)"},
    load_data=load,
    data_key=lambda cfg: ("xor",),
    describe_data=lambda data: {"name": "xor", "source": "the four XOR points (built in)", "sizes": {"train": 4}},
    preview=preview,
    metrics=(
        Metric("loss", "mean squared error (mean over nets)", "loss", "lower", fmt=".4f"),
        Metric("solve_rate", "share of nets that solved XOR", "solved", "higher", fmt=".2f"),
        Metric("median_iterations", "median iterations to solve (nets not solved so far counted at the cap)",
               "median it", "lower", unit="iterations", fmt=".0f"),
    ),
    primary="median_iterations",
    shown=("loss", "solve_rate", "median_iterations"),
    step_loss_label="mean squared error (mean over nets)",
    figures={
        **generic_figures(),
        "iterations": FigureKind(figures.iterations, frozenset({"file"}), over_seeds=True,
                                 help="iterations to solve per net per (init, lr), unsolved nets at the cap"),
        "iterations_table": FigureKind(figures.iterations_table, frozenset(), over_seeds=True,
                                       help="nets solved and median iterations per (init, lr)"),
    },
    default_figures=({"kind": "iterations"}, {"kind": "iterations_table"}),
    save_artifacts=save,
    stack_key=trainer.stack_key,
    fit_stack=trainer.fit_stack,
))
