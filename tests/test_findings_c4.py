"""Every lab 4 (STUDY Part C.4) claim, judged on hand-made run records (no
training), for every verdict it can give; and the section on such records."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.studies import NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Report, STUDIES, studies
from engine.studies import part_c_lab4
from engine.studies.part_c_lab4 import cnn_beats_mlp_on_cifar, cnn_not_below_on_fashion, mlp_reaches_on_fashion

STANDIN = "embedded STAND-IN for CIFAR-10 (not CIFAR-10): drawn shapes"


def run(dataset: str, arch: str, test: float, source: str = "folder /data/x", status: str = "ok") -> dict:
    return {"status": status, "name": f"arch={arch},dataset={dataset}", "data": {"source": source},
            "config": {"data": {"dataset": dataset}, "model": {"arch": arch, "hidden": [256, 128, 64],
                                                                "channels": [32, 64, 64], "dense": 128},
                       "optim": {"lr": 0.001, "batch_size": 64, "epochs": 10}},
            "final": {"train_accuracy": min(1.0, test + 0.05), "val_accuracy": test, "test_accuracy": test}}


def lab(fm_mlp=0.85, fm_cnn=0.90, cf_mlp=0.38, cf_cnn=0.54, source="folder /data/x") -> dict:
    return {"mlp_vs_cnn": [run("fashion_mnist", "mlp", fm_mlp, source), run("fashion_mnist", "cnn", fm_cnn, source),
                           run("cifar10", "mlp", cf_mlp, source), run("cifar10", "cnn", cf_cnn, source)]}


FASHION_ONLY = {"mlp_vs_cnn": lab()["mlp_vs_cnn"][:2]}
CIFAR_ONLY = {"mlp_vs_cnn": lab()["mlp_vs_cnn"][2:]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (cnn_beats_mlp_on_cifar, lab(), REPRODUCED),
    (cnn_beats_mlp_on_cifar, lab(cf_mlp=0.5, cf_cnn=0.45), NOT_REPRODUCED),
    (cnn_beats_mlp_on_cifar, FASHION_ONLY, NOT_MEASURED),
    (cnn_beats_mlp_on_cifar, {"mlp_vs_cnn": [run("cifar10", "mlp", 0.4), run("cifar10", "cnn", 0.5, status="failed")]},
     NOT_MEASURED),
    (mlp_reaches_on_fashion, lab(), REPRODUCED),
    (mlp_reaches_on_fashion, lab(fm_mlp=0.79), NOT_REPRODUCED),
    (mlp_reaches_on_fashion, CIFAR_ONLY, NOT_MEASURED),
    (cnn_not_below_on_fashion, lab(), REPRODUCED),
    (cnn_not_below_on_fashion, lab(fm_mlp=0.85, fm_cnn=0.845), REPRODUCED),  # within one point
    (cnn_not_below_on_fashion, lab(fm_mlp=0.85, fm_cnn=0.22), NOT_REPRODUCED),  # the course's numbers
    (cnn_not_below_on_fashion, {"mlp_vs_cnn": [run("fashion_mnist", "cnn", 0.9)]}, NOT_MEASURED),
])
def test_lab4_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.4"


def test_measured_text_quotes_the_course_and_names_the_standin():
    outcome = cnn_beats_mlp_on_cifar(lab(cf_mlp=0.181, cf_cnn=0.501, source=STANDIN))
    assert outcome.measured == ("test accuracy on CIFAR-10 (stand-in): CNN 0.501, MLP 0.181 "
                                "(reported on CIFAR-10: CNN 0.54, MLP 0.38)")
    assert "(stand-in)" not in mlp_reaches_on_fashion(lab()).measured


def test_the_study_is_registered_after_part_c_and_its_section_reads_the_records(tmp_path):
    assert STUDIES.index("engine.studies.part_c_lab4") == STUDIES.index("engine.studies.part_c_lab3") + 1
    assert studies(lab()) == [part_c_lab4]
    report = Report(SimpleNamespace(records=lab(source=STANDIN), figures={}), tmp_path)
    text = part_c_lab4.section_mlp_vs_cnn(report)
    assert text.startswith("## C.4 MLP vs CNN (experiment `mlp_vs_cnn`)")
    assert "CIFAR-10 CNN: reported 0.54, measured 0.540 on the stand-in" in text
    assert "looks like a bug" in text
    assert [f.verdict for f in report.findings] == [REPRODUCED] * 3
    empty = Report(SimpleNamespace(records={"mlp_vs_cnn": []}, figures={}), tmp_path)
    assert "Not measured" in part_c_lab4.section_mlp_vs_cnn(empty)
    assert [f.verdict for f in empty.findings] == [NOT_MEASURED] * 3
