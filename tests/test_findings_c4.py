"""Every lab 4 (STUDY Part C.4) claim, judged on hand-made run records (no training): the reproduced case, an
untrained model (chance accuracy), the claim reversed and missing runs; and the section on such records."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.studies import (BENCH, COURSE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Report, STUDIES,
                            judge_claim, studies)
from engine.studies import part_c_lab4
from engine.studies.part_c_lab4 import (cnn_beats_mlp_on_cifar, cnn_below_mlp_on_fashion, cnn_not_below_on_fashion,
                                        mlp_reaches_on_fashion)

STANDIN = "embedded STAND-IN for CIFAR-10 (not CIFAR-10): drawn shapes"
N = 1000
LABELS = [i % 10 for i in range(N)]
ORDER = np.random.default_rng(1).permutation(N)


def predictions(acc: float) -> list[int]:
    right = set(ORDER[:round(acc * N)].tolist())  # nested: a better model is right wherever a worse one is
    return [t if i in right else (t + 1) % 10 for i, t in enumerate(LABELS)]


def run(dataset: str, arch: str, test: float, source: str = "folder /data/x", status: str = "ok") -> dict:
    return {"status": status, "name": f"arch={arch},dataset={dataset}",
            "data": {"source": source, "standin": "STAND-IN" in source},
            "config": {"data": {"dataset": dataset}, "model": {"arch": arch, "hidden": [256, 128, 64],
                                                                "channels": [32, 64, 64], "dense": 128},
                       "optim": {"lr": 0.001, "batch_size": 64, "epochs": 10}},
            "final": {"train_accuracy": min(1.0, test + 0.05), "val_accuracy": test, "test_accuracy": test},
            "mlp_vs_cnn": {"test_predictions": predictions(test), "test_labels": LABELS}}


def lab(fm_mlp=0.85, fm_cnn=0.90, cf_mlp=0.38, cf_cnn=0.54, source="folder /data/x") -> dict:
    return {"mlp_vs_cnn": [run("fashion_mnist", "mlp", fm_mlp, source), run("fashion_mnist", "cnn", fm_cnn, source),
                           run("cifar10", "mlp", cf_mlp, source), run("cifar10", "cnn", cf_cnn, source)]}


FASHION_ONLY = {"mlp_vs_cnn": lab()["mlp_vs_cnn"][:2]}
CIFAR_ONLY = {"mlp_vs_cnn": lab()["mlp_vs_cnn"][2:]}
UNTRAINED = lab(0.1, 0.1, 0.1, 0.1)
AS_THE_COURSE = lab(fm_mlp=0.85, fm_cnn=0.22)  # the course's Fashion-MNIST anomaly


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (cnn_beats_mlp_on_cifar, lab(), REPRODUCED),
    (cnn_beats_mlp_on_cifar, UNTRAINED, NOT_REPRODUCED),
    (cnn_beats_mlp_on_cifar, lab(cf_mlp=0.5, cf_cnn=0.45), NOT_REPRODUCED),  # reversed
    (cnn_beats_mlp_on_cifar, lab(cf_mlp=0.1, cf_cnn=0.2), NOT_REPRODUCED),  # a CNN below the learns-bar
    (cnn_beats_mlp_on_cifar, FASHION_ONLY, NOT_MEASURED),
    (cnn_beats_mlp_on_cifar, {"mlp_vs_cnn": [run("cifar10", "mlp", 0.4), run("cifar10", "cnn", 0.5, status="failed")]},
     NOT_MEASURED),
    (mlp_reaches_on_fashion, lab(), REPRODUCED),
    (mlp_reaches_on_fashion, UNTRAINED, NOT_REPRODUCED),
    (mlp_reaches_on_fashion, lab(fm_mlp=0.70), NOT_REPRODUCED),  # reversed
    (mlp_reaches_on_fashion, CIFAR_ONLY, NOT_MEASURED),
    (cnn_below_mlp_on_fashion, AS_THE_COURSE, REPRODUCED),
    (cnn_below_mlp_on_fashion, UNTRAINED, NOT_REPRODUCED),
    (cnn_below_mlp_on_fashion, lab(fm_mlp=0.85, fm_cnn=0.10), NOT_REPRODUCED),  # a CNN that learned nothing
    (cnn_below_mlp_on_fashion, lab(), NOT_REPRODUCED),  # reversed: what a working CNN does
    (cnn_below_mlp_on_fashion, CIFAR_ONLY, NOT_MEASURED),
    (cnn_not_below_on_fashion, lab(), REPRODUCED),
    (cnn_not_below_on_fashion, UNTRAINED, NOT_REPRODUCED),
    (cnn_not_below_on_fashion, AS_THE_COURSE, NOT_REPRODUCED),  # reversed: the course's numbers
    (cnn_not_below_on_fashion, {"mlp_vs_cnn": [run("fashion_mnist", "cnn", 0.9)]}, NOT_MEASURED),
])
def test_lab4_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.4"


def test_the_course_claims_and_the_bench_check_are_told_apart():
    assert [c.source for c in part_c_lab4.CLAIMS] == [COURSE, COURSE, COURSE, BENCH]
    assert cnn_below_mlp_on_fashion.course == "CNN 0.22, MLP 0.85 (test)"
    assert "0.54" in cnn_beats_mlp_on_cifar.course and "0.85" in mlp_reaches_on_fashion.course


def test_a_one_seed_comparison_has_a_paired_interval_over_the_test_images():
    outcome = cnn_beats_mlp_on_cifar(lab())
    assert outcome.statistic.startswith("paired bootstrap over test examples") and outcome.n == N
    assert outcome.interval[0] > 0 and outcome.effect == pytest.approx(0.16)
    close = cnn_not_below_on_fashion(lab(fm_mlp=0.85, fm_cnn=0.848))  # 2 images of 1,000 under: within 1 point
    assert close.verdict == REPRODUCED, close.measured
    # 5 under: the interval reaches the margin (−0.01), so the 1,000 images cannot tell
    assert cnn_not_below_on_fashion(lab(fm_mlp=0.85, fm_cnn=0.845)).verdict == INCONCLUSIVE
    assert mlp_reaches_on_fashion(lab()).statistic.startswith("Wilson")


def test_runs_without_per_example_predictions_are_not_measured():
    old = lab()
    for r in old["mlp_vs_cnn"]:
        del r["mlp_vs_cnn"]
    assert cnn_beats_mlp_on_cifar(old).verdict == NOT_MEASURED


def test_measured_text_quotes_the_numbers_and_the_finding_names_the_standin():
    records = lab(cf_mlp=0.181, cf_cnn=0.501, source=STANDIN)
    outcome = cnn_beats_mlp_on_cifar(records)
    assert outcome.measured.startswith("test accuracy on CIFAR-10 (stand-in): CNN 0.501, MLP 0.181; effect = CNN")
    assert "(stand-in)" not in mlp_reaches_on_fashion(lab()).measured
    finding = judge_claim(cnn_beats_mlp_on_cifar, records)
    assert finding.standin and finding.source == COURSE and finding.course.startswith("CNN 0.54")


def test_the_study_is_registered_after_part_c_and_its_section_reads_the_records(tmp_path):
    assert STUDIES.index("engine.studies.part_c_lab4") == STUDIES.index("engine.studies.part_c_lab3") + 1
    assert studies(lab()) == [part_c_lab4]
    report = Report(SimpleNamespace(records=lab(source=STANDIN), figures={}), tmp_path)
    text = part_c_lab4.section_mlp_vs_cnn(report)
    assert text.startswith("## C.4 MLP vs CNN (experiment `mlp_vs_cnn`)")
    assert "CIFAR-10 CNN: reported 0.54, measured 0.540 on the stand-in" in text
    assert "looks like a bug" in text
    assert [f.verdict for f in report.findings] == [REPRODUCED, REPRODUCED, NOT_REPRODUCED, REPRODUCED]
    empty = Report(SimpleNamespace(records={"mlp_vs_cnn": []}, figures={}), tmp_path)
    assert "Not measured" in part_c_lab4.section_mlp_vs_cnn(empty)
    assert [f.verdict for f in empty.findings] == [NOT_MEASURED] * 4
