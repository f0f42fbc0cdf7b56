"""Every claim of the report, judged on hand-made run records (no training),
for every verdict it can give; and the study registry around them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.studies import (INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, VERDICTS, Claim, Records,
                            part_a, part_b, studies)
from engine.studies.part_a import (batchnorm_faster, batchnorm_gradients_explode, batchnorm_smoother, early_drop,
                                   gradients_vanish, high_lr_fails, larger_batches_better, low_lr_slow,
                                   middle_lrs_best, overfits_late, plotted_layers, residual_gradients_even, residual_learns,
                                   sine_beats_raw, sine_near_one)
from engine.studies.part_b import finetune_beats_probe, probe_beats_scratch, scratch_near_chance, xgboost_near_probes

CLASSES = [str(i) for i in range(27)]  # chance loss ln 27 = 3.30


def record(model: dict | None = None, optim: dict | None = None, history: dict | None = None,
           final: dict | None = None, **extra) -> dict:
    """A run.json-shaped record with the MLP defaults STUDY names."""
    return {"status": "ok", "name": "run", "seed": 42,
            "config": {"model": {"depth": 6, "width": 16, "batchnorm": False, "residual": False,
                                 "sine_features": False, **(model or {})},
                       "optim": {"lr": 1e-3, "epochs": 50, "batch_size": 256, **(optim or {})}},
            "history": history or {}, "final": final or {"val_accuracy": 0.5}, **extra}


# ------------------------------------------------------------------ A.1.1
def lr_run(lr: float, val_loss: list[float], val_accuracy: float, batchnorm: bool = False) -> dict:
    return record(model={"batchnorm": batchnorm}, optim={"lr": lr}, history={"val_loss": val_loss},
                  final={"val_accuracy": val_accuracy}, data={"class_names": CLASSES})


LR_AS_STUDY = {"lr": [lr_run(1.0, [3.3, 3.3], 0.04), lr_run(0.01, [3.3, 0.3], 0.95),
                      lr_run(0.001, [3.3, 0.4], 0.93), lr_run(1e-5, [3.3, 3.25], 0.2)]}
LR_ALL_LEARN = {"lr": [lr_run(1.0, [3.3, 0.2], 0.96), lr_run(0.01, [3.3, 0.3], 0.95),
                       lr_run(0.001, [3.3, 0.4], 0.93), lr_run(1e-5, [3.3, 0.5], 0.9)]}
LR_ONE = {"lr": [lr_run(1.0, [3.3, 3.3], 0.04)]}
LR_ONLY_BATCHNORM = {"lr": [lr_run(lr, run["history"]["val_loss"], 0.5, batchnorm=True)
                            for lr, run in zip((1.0, 0.01, 0.001, 1e-5), LR_AS_STUDY["lr"])]}
LR_NO_CLASSES = {"lr": [{**r, "data": {}} for r in LR_AS_STUDY["lr"]]}
LR_FIVE = {"lr": [lr_run(0.1, [3.3, 3.0], 0.1), lr_run(0.01, [3.3, 0.3], 0.95), lr_run(0.001, [3.3, 0.4], 0.93),
                  lr_run(1e-4, [3.3, 1.0], 0.7), lr_run(1e-5, [3.3, 3.25], 0.2)]}


# ------------------------------------------------------------------ A.1.2 / A.1.3
def epochs_run(val_loss: list[float], train_loss: list[float] | None = None, val_accuracy: list[float] | None = None,
               batchnorm: bool = False) -> dict:
    return record(model={"batchnorm": batchnorm}, optim={"epochs": len(val_loss) - 1},
                  history={"val_loss": val_loss, "train_loss": train_loss or val_loss,
                           "val_accuracy": val_accuracy or [0.5] * len(val_loss)})


EARLY_DROP = {"epochs": [epochs_run([3.0] + [1.0] * 30)]}
STEADY_DROP = {"epochs": [epochs_run([3.0 - 0.03 * i for i in range(101)])]}
TEN_EPOCHS = {"epochs": [epochs_run([3.0] + [1.0] * 10)]}
OVERFITS_AT_80 = {"epochs": [epochs_run([1 + (i - 80) ** 2 / 1000 for i in range(101)],
                                        train_loss=[1 / (i + 1) for i in range(101)])]}
OVERFITS_AT_40 = {"epochs": [epochs_run([1 + (i - 40) ** 2 / 1000 for i in range(101)],
                                        train_loss=[1 / (i + 1) for i in range(101)])]}
TWENTY_FIVE_EPOCHS = {"epochs": [epochs_run([1 + (i - 20) ** 2 / 1000 for i in range(26)])]}

FAST = [0.1, 0.9, 0.95, 0.95, 0.95]
SLOW = [0.1, 0.3, 0.6, 0.9, 0.95]
SMOOTH = [10 ** (-i / 10) for i in range(10)]
JAGGED = [1.0, 0.5] * 5


def bn_pair(plain: dict, norm: dict) -> Records:
    return {"epochs": [epochs_run(batchnorm=False, **plain), epochs_run(batchnorm=True, **norm)]}


# ------------------------------------------------------------------ A.1.4
def batch_runs(accuracies: list[float]) -> Records:
    return {"batch_size": [record(optim={"batch_size": size}, final={"val_accuracy": acc})
                           for size, acc in zip((1024, 1, 128, 16), accuracies)]}  # out of order on purpose


# ------------------------------------------------------------------ A.2.5-6
def grad_run(per_layer: list[float], batchnorm: bool = False, residual: bool = False) -> dict:
    """`per_layer` holds one ‖grad‖² per Linear layer: depth hidden layers, then the output layer."""
    return record(model={"depth": len(per_layer) - 1, "width": 4, "batchnorm": batchnorm, "residual": residual},
                  history={"grad_sq_norm": [per_layer, per_layer]})


def gradients(per_layer: list[float], **flags: bool) -> Records:
    return {"gradients": [grad_run(per_layer, **flags)]}


def residual_at(accuracy: float, classes: int = 27) -> Records:
    run = grad_run(EVEN, residual=True)
    run["final"] = {**run.get("final", {}), "val_accuracy": accuracy}
    run["data"] = {"class_names": [f"c{i}" for i in range(classes)]}
    return {"gradients": [run]}


VANISHING = [10 ** (-(100 - i) / 10) for i in range(101)]
EVEN = [1.0] * 101
EXPLODING = [1e6] + [1.0] * 100
ZERO_AT_30 = [0.0 if i == 30 else 1.0 for i in range(101)]
# depth 10: the last hidden layer is 9 (large); the output layer 10 is not part of the ratio
DEPTH_10 = [1.0] * 9 + [1e6, 1.0]


# ------------------------------------------------------------------ A.2.7
def sine_runs(raw: float | None, sine: float | None) -> Records:
    return {"sine": [record(model={"sine_features": flag}, final={"val_accuracy": acc, "test_accuracy": acc})
                     for flag, acc in ((False, raw), (True, sine)) if acc is not None]}


# ------------------------------------------------------------------ B.1
def baselines(**best: float | list[float]) -> Records:
    runs = []
    for mode, accs in best.items():
        for i, acc in enumerate(accs if isinstance(accs, list) else [accs]):
            runs.append({"status": "ok", "name": f"{mode}{i}", "config": {"model": {"mode": mode},
                                                                          "optim": {"lr": 10.0 ** -(i + 1)}},
                         "final": {"test_accuracy": acc}})
    return {"baselines": runs}


AS_REPORTED = baselines(xgboost=0.73, scratch=0.55, linear_probe=0.72, sklearn_probe=0.73, finetune=0.85)
UPSIDE_DOWN = baselines(xgboost=0.5, scratch=0.8, linear_probe=0.7, sklearn_probe=0.65, finetune=0.6)

CASES = [
    (high_lr_fails, LR_AS_STUDY, REPRODUCED, "lr = 1: final val loss 3.300 vs chance 3.296"),
    (high_lr_fails, LR_ALL_LEARN, NOT_REPRODUCED, "val accuracy 0.960 vs best 0.960"),
    (high_lr_fails, LR_ONE, NOT_MEASURED, ""),
    (high_lr_fails, LR_ONLY_BATCHNORM, NOT_MEASURED, ""),
    (high_lr_fails, LR_NO_CLASSES, NOT_MEASURED, ""),
    (high_lr_fails, LR_FIVE, REPRODUCED, "lr = 0.1:"),  # the highest rate that ran, whatever it is
    (low_lr_slow, LR_AS_STUDY, REPRODUCED, "lr = 1e-05 lowers the val loss by 0.050 over 1 epochs"),
    (low_lr_slow, LR_ALL_LEARN, NOT_REPRODUCED, "by 2.800"),
    (low_lr_slow, LR_ONE, NOT_MEASURED, ""),
    (middle_lrs_best, LR_AS_STUDY, REPRODUCED, "0.01, 0.001, 1e-05, 1 (the second and third highest are 0.01"),
    (middle_lrs_best, LR_ALL_LEARN, NOT_REPRODUCED, "ranked by final validation loss: 1, 0.01"),
    (middle_lrs_best, {"lr": LR_AS_STUDY["lr"][:3]}, NOT_MEASURED, ""),
    (middle_lrs_best, LR_FIVE, REPRODUCED, "the second and third highest are 0.01 and 0.001"),
    (early_drop, EARLY_DROP, REPRODUCED, "100 % of the drop"),
    (early_drop, STEADY_DROP, NOT_REPRODUCED, "20 % of the drop to the lowest validation loss is done by epoch 20"),
    (early_drop, TEN_EPOCHS, NOT_MEASURED, "the run has 10 epochs"),
    (early_drop, {}, NOT_MEASURED, "missing"),
    (overfits_late, OVERFITS_AT_80, REPRODUCED, "lowest validation loss at epoch 80 of 100"),
    (overfits_late, STEADY_DROP, NOT_REPRODUCED, "lowest validation loss at epoch 100 of 100"),
    (overfits_late, OVERFITS_AT_40, NOT_REPRODUCED, "lowest validation loss at epoch 40 of 100"),
    (overfits_late, TWENTY_FIVE_EPOCHS, NOT_MEASURED, "the run has 25 epochs, fewer than 80"),
    (batchnorm_faster, bn_pair({"val_loss": SMOOTH, "val_accuracy": SLOW}, {"val_loss": SMOOTH, "val_accuracy": FAST}),
     REPRODUCED, "is reached at epoch 1 with BatchNorm and 3 without"),
    (batchnorm_faster, bn_pair({"val_loss": SMOOTH, "val_accuracy": FAST}, {"val_loss": SMOOTH, "val_accuracy": SLOW}),
     NOT_REPRODUCED, "at epoch 3 with BatchNorm and 1 without"),
    (batchnorm_faster, bn_pair({"val_loss": SMOOTH, "val_accuracy": FAST}, {"val_loss": SMOOTH, "val_accuracy": FAST}),
     NOT_REPRODUCED, "at epoch 1 with BatchNorm and 1 without"),  # a tie is not fewer epochs
    (batchnorm_faster, {"epochs": [epochs_run(SMOOTH)]}, NOT_MEASURED, ""),
    (batchnorm_smoother, bn_pair({"val_loss": JAGGED}, {"val_loss": SMOOTH}), REPRODUCED, "0.0000 with BatchNorm"),
    (batchnorm_smoother, bn_pair({"val_loss": SMOOTH}, {"val_loss": JAGGED}), NOT_REPRODUCED, "0.0000 without"),
    (batchnorm_smoother, {"epochs": [epochs_run(SMOOTH, batchnorm=True)]}, NOT_MEASURED, ""),
    (larger_batches_better, batch_runs([0.97, 0.68, 0.95, 0.93]), REPRODUCED, "1: 0.680, 16: 0.930, 128: 0.950, 1024"),
    (larger_batches_better, batch_runs([0.9, 0.68, 0.95, 0.93]), NOT_REPRODUCED, "1024: 0.900"),
    (larger_batches_better, {"batch_size": batch_runs([0.9])["batch_size"]}, NOT_MEASURED, ""),
    (gradients_vanish, gradients(VANISHING), REPRODUCED, "layer 0 / layer 99 gradient ratio 1.26e-10 (plain)"),
    (gradients_vanish, gradients(EVEN), NOT_REPRODUCED, "ratio 1.00e+00"),
    (gradients_vanish, gradients(DEPTH_10), REPRODUCED, "layer 0 / layer 9 gradient ratio 1.00e-06"),
    (gradients_vanish, gradients(VANISHING, batchnorm=True), NOT_MEASURED, ""),
    (gradients_vanish, {"gradients": [record(model={"depth": 100})]}, NOT_MEASURED, ""),  # no gradients recorded
    (batchnorm_gradients_explode, gradients(EXPLODING, batchnorm=True), REPRODUCED, "1.00e+06 (BatchNorm)"),
    (batchnorm_gradients_explode, gradients(EVEN, batchnorm=True), NOT_REPRODUCED, "1.00e+00 (BatchNorm)"),
    (batchnorm_gradients_explode, gradients(EXPLODING), NOT_MEASURED, ""),
    (residual_gradients_even, gradients(EVEN, residual=True), REPRODUCED,
     "over layers [0, 30, 60, 90, 95, 99]: 1.00e+00"),
    (residual_gradients_even, gradients(ZERO_AT_30, residual=True), NOT_REPRODUCED, "infinite"),
    (residual_gradients_even, gradients(EXPLODING, residual=True), NOT_REPRODUCED, "1.00e+06"),
    (residual_gradients_even, gradients(EVEN), NOT_MEASURED, ""),
    (residual_learns, residual_at(0.86), REPRODUCED, "validation accuracy 0.860 vs chance 0.037"),
    (residual_learns, residual_at(0.014), NOT_REPRODUCED, "validation accuracy 0.014"),
    (residual_learns, gradients(EVEN), NOT_MEASURED, ""),
    (sine_beats_raw, sine_runs(0.8, 0.97), REPRODUCED, "validation accuracy 0.970 vs 0.800"),
    (sine_beats_raw, sine_runs(0.8, 0.7), NOT_REPRODUCED, "0.700 vs 0.800"),
    (sine_beats_raw, sine_runs(0.8, None), NOT_MEASURED, ""),
    (sine_near_one, sine_runs(None, 0.97), REPRODUCED, "validation accuracy 0.970"),
    (sine_near_one, sine_runs(0.8, 0.9), NOT_REPRODUCED, "validation accuracy 0.900"),
    (sine_near_one, sine_runs(0.8, None), NOT_MEASURED, ""),
    (finetune_beats_probe, AS_REPORTED, REPRODUCED, "finetune 0.850 vs linear_probe 0.720"),
    (finetune_beats_probe, UPSIDE_DOWN, NOT_REPRODUCED, "finetune 0.600 vs linear_probe 0.700"),
    (finetune_beats_probe, baselines(finetune=[0.9, 0.6], linear_probe=0.8), REPRODUCED, "finetune 0.900"),
    (finetune_beats_probe, baselines(finetune=0.85), NOT_MEASURED, ""),
    (probe_beats_scratch, AS_REPORTED, REPRODUCED, "best probe 0.730 vs scratch 0.550"),
    (probe_beats_scratch, UPSIDE_DOWN, NOT_REPRODUCED, "best probe 0.700 vs scratch 0.800"),
    (probe_beats_scratch, baselines(scratch=0.55), NOT_MEASURED, ""),
    (xgboost_near_probes, AS_REPORTED, REPRODUCED, "xgboost 0.730 vs best probe 0.730"),
    (xgboost_near_probes, UPSIDE_DOWN, NOT_REPRODUCED, "xgboost 0.500 vs best probe 0.700"),
    (xgboost_near_probes, baselines(xgboost=0.73, finetune=0.8), NOT_MEASURED, ""),
    (scratch_near_chance, AS_REPORTED, REPRODUCED, "best scratch test accuracy 0.550"),
    (scratch_near_chance, UPSIDE_DOWN, NOT_REPRODUCED, "best scratch test accuracy 0.800"),
    (scratch_near_chance, baselines(scratch=float("nan")), NOT_MEASURED, ""),
]


@pytest.mark.parametrize("claim, records, verdict, measured", CASES,
                         ids=[f"{c.measure.__name__}-{v}-{i}" for i, (c, _, v, _) in enumerate(CASES)])
def test_claim_gives_its_verdict_on_handmade_records(claim: Claim, records: Records, verdict: str, measured: str):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert measured in outcome.measured


def test_every_claim_is_tested_for_every_verdict():
    claims = [v for m in (part_a, part_b) for v in vars(m).values() if isinstance(v, Claim)]
    assert len(claims) == 18
    tested = {(c.section, c.text, v) for c, _, v, _ in CASES}
    # a claim on one seed's runs gives one of these; "inconclusive" comes from comparing seeds (tested below)
    own = [v for v in VERDICTS if v != INCONCLUSIVE]
    missing = [(c.section, c.text, v) for c in claims for v in own if (c.section, c.text, v) not in tested]
    assert not missing


def test_claims_do_not_change_the_records():
    before = repr(LR_AS_STUDY)
    for claim in (high_lr_fails, low_lr_slow, middle_lrs_best):
        claim(LR_AS_STUDY)
    assert repr(LR_AS_STUDY) == before


def test_plotted_layers_scale_with_depth():
    assert plotted_layers(grad_run(EVEN)) == [0, 30, 60, 90, 95, 99]
    assert plotted_layers(grad_run(DEPTH_10)) == [0, 3, 6, 9]


def test_only_studies_whose_experiments_ran_are_reported():
    assert studies({"lr": [], "sine": []}) == [part_a]
    assert studies({"baselines": []}) == [part_b]
    assert studies({"lr": [], "baselines": []}) == [part_a, part_b]
    assert studies({"something_else": []}) == []


def test_the_report_reads_records_only():
    """The generic report names no kind or dataset; the studies import no trainer, model or figure code."""
    root = Path(__file__).resolve().parents[1] / "engine" / "studies"
    generic = (root / "__init__.py").read_text().lower()
    assert not [word for word in ("mlp", "images", "cities", "faces") if word in generic]
    code = ("import sys, engine.studies.part_a, engine.studies.part_b; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=root.parents[1]).stdout
    for module in ("engine.trainers", "engine.figures", "engine.kinds", "engine.models"):
        assert f"'{module}" not in loaded


# ------------------------------------------------------------------ seeds
def test_a_claim_is_judged_on_every_seed_and_inconclusive_when_they_disagree():
    from engine.studies import INCONCLUSIVE, NOT_MEASURED, REPRODUCED, Outcome, claim, judge_over_seeds

    @claim("X", "the value is above 1")
    def above_one(records):
        runs = records.get("e", [])
        if not runs:
            return Outcome("no runs", NOT_MEASURED)
        value = runs[0]["final"]["v"]
        return Outcome(f"v = {value}", REPRODUCED if value > 1 else "not reproduced")

    def recs(*values):
        return {"e": [{"seed": 40 + i, "final": {"v": v}} for i, v in enumerate(values)]}

    outcome, seeds = judge_over_seeds(above_one, recs(2, 3, 4))
    assert (outcome.verdict, seeds) == (REPRODUCED, 3) and "the same in all 3 seeds" in outcome.measured
    outcome, seeds = judge_over_seeds(above_one, recs(0.5, 0.2))
    assert (outcome.verdict, seeds) == ("not reproduced", 2)
    outcome, seeds = judge_over_seeds(above_one, recs(2, 0.5, 3))
    assert (outcome.verdict, seeds) == (INCONCLUSIVE, 3)
    assert "2 of 3 seeds reproduce it" in outcome.measured and "seed 41: not reproduced" in outcome.measured
    outcome, seeds = judge_over_seeds(above_one, recs(5))
    assert (outcome.verdict, seeds) == (REPRODUCED, 1)
    outcome, seeds = judge_over_seeds(above_one, {"e": []})
    assert (outcome.verdict, seeds) == (NOT_MEASURED, 0)
