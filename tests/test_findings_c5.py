"""Every Part C lab 5 claim (telling the time), judged on hand-made run records (no training): the reproduced
case, an untrained model (chance errors), the claim reversed, a budget too small to judge and missing runs;
and the section."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.studies import BENCH, COURSE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Report, studies
from engine.studies import part_c_lab5
from engine.studies.part_c_lab5 import classification_beats_regression, cyclic_beats_mse, two_heads_beat_classification

N = 200  # test clocks
TRUE = [int(v) for v in np.random.default_rng(2).integers(0, 720, N)]
SHAPE = np.random.default_rng(3).exponential(1.0, N)  # every approach errs most on the same hard clocks
SHAPE = SHAPE / SHAPE.mean()
RANDOM = np.random.default_rng(4).uniform(0, 360, N)  # a reading that learned nothing: uniform on the dial


def clock_run(head: str, test: float | None, loss: str = "cyclic", classes: int = 24, worst: float = 300.0,
              standin: bool = True, val: float | None = None, epochs: int = 30, seed: int = 42) -> dict:
    """``test`` None: an untrained model (its errors uniform on the dial, about 180 min)."""
    errors = RANDOM if test is None else np.minimum(test * SHAPE, 360.0)
    mean = float(np.mean(errors))
    return {"status": "ok", "name": f"{head},{loss},{classes}", "seed": seed,
            "config": {"model": {"head": head, "loss": loss, "classes": classes, "channels": 16, "hidden": 128},
                       "optim": {"lr": 0.001, "epochs": epochs, "batch_size": 64}},
            "data": {"source": "stand-in" if standin else "folder /x", "standin": standin},
            "final": {"train_error": mean - 5, "val_error": mean + 1 if val is None else val, "test_error": mean},
            "clocks": {"max_error": {"train": worst - 10, "val": worst - 5, "test": worst},
                       "test": {"true": TRUE, "error": [round(float(e), 2) for e in errors]}}}


def clocks(mse=48.0, cyclic=33.0, c24=30.0, c120=22.9, two=11.7, epochs=30) -> dict:
    return {"clocks": [clock_run("regression", mse, "mse", epochs=epochs),
                       clock_run("regression", cyclic, "cyclic", epochs=epochs),
                       clock_run("classification", c24, classes=24, epochs=epochs),
                       clock_run("classification", c120, classes=120, epochs=epochs),
                       clock_run("two_head", two, epochs=epochs)]}


AS_REPORTED = clocks()
UNTRAINED = clocks(None, None, None, None, None)
REG_ONLY = {"clocks": [clock_run("regression", 48.0, "mse")]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (cyclic_beats_mse, AS_REPORTED, REPRODUCED),
    (cyclic_beats_mse, UNTRAINED, NOT_REPRODUCED),
    (cyclic_beats_mse, clocks(mse=40.0, cyclic=45.0), NOT_REPRODUCED),  # reversed
    (cyclic_beats_mse, clocks(epochs=6), NOT_MEASURED),  # a budget too small to judge
    (cyclic_beats_mse, REG_ONLY, NOT_MEASURED),
    (classification_beats_regression, AS_REPORTED, REPRODUCED),
    (classification_beats_regression, UNTRAINED, NOT_REPRODUCED),
    (classification_beats_regression, clocks(mse=30.0, cyclic=20.0, c24=26.0, c120=25.0), NOT_REPRODUCED),
    (classification_beats_regression, clocks(epochs=6), NOT_MEASURED),
    (classification_beats_regression, REG_ONLY, NOT_MEASURED),
    (two_heads_beat_classification, AS_REPORTED, REPRODUCED),
    (two_heads_beat_classification, UNTRAINED, NOT_REPRODUCED),
    (two_heads_beat_classification, clocks(two=25.0, c24=20.0, c120=22.0), NOT_REPRODUCED),  # reversed
    (two_heads_beat_classification, clocks(epochs=6), NOT_MEASURED),
    (two_heads_beat_classification, {"clocks": [clock_run("two_head", 11.0)]}, NOT_MEASURED),
])
def test_lab5_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.5"


def test_sources_budget_and_interval():
    assert [c.source for c in part_c_lab5.CLAIMS] == [BENCH, COURSE, COURSE]
    assert "22.9" in classification_beats_regression.course and "11.7" in two_heads_beat_classification.course
    outcome = two_heads_beat_classification(AS_REPORTED)
    assert outcome.statistic.startswith("paired bootstrap over test examples") and outcome.n == N
    assert outcome.interval[0] > 0
    small = cyclic_beats_mse(clocks(epochs=6))
    assert "not judged at 6 epochs" in small.measured and "30 epochs" in small.measured
    assert "nothing learned" in two_heads_beat_classification(UNTRAINED).measured


def test_a_tie_for_best_is_no_winner():
    tie = {"clocks": [clock_run("regression", 40.0), clock_run("classification", 20.0, classes=24, val=19.0),
                      clock_run("classification", 21.0, classes=48, val=19.0)]}
    outcome = classification_beats_regression(tie)
    assert outcome.verdict == NOT_REPRODUCED and "no unique best" in outcome.measured


def test_the_measured_text_quotes_the_numbers_and_says_stand_in():
    text = two_heads_beat_classification(AS_REPORTED).measured
    assert "two heads (cyclic minutes) test 11.7 min" in text and "120 classes" in text and "22.9 min" in text
    assert "stand-in" in text
    real = {"clocks": [clock_run("classification", 20.0, standin=False), clock_run("two_head", 10.0, standin=False)]}
    assert "stand-in" not in two_heads_beat_classification(real).measured


def test_the_best_of_a_family_is_chosen_by_validation_not_test():
    # 24 classes: best on validation; 120 classes: best on test only (picking it would peek at the test set)
    records = {"clocks": [clock_run("regression", 20.0, val=21.0),
                          clock_run("classification", 30.0, classes=24, val=19.0),
                          clock_run("classification", 10.0, classes=120, val=25.0),
                          clock_run("two_head", 25.0, val=24.0)]}
    outcome = classification_beats_regression(records)
    assert outcome.verdict == NOT_REPRODUCED and "24 classes" in outcome.measured and "30.0 min" in outcome.measured
    assert "120 classes" not in outcome.measured
    outcome = two_heads_beat_classification(records)
    assert outcome.verdict == REPRODUCED and "24 classes" in outcome.measured  # 25 < 30, though 10 would beat 25
    no_val = clock_run("classification", 5.0, classes=60)
    del no_val["final"]["val_error"]
    assert classification_beats_regression({"clocks": [clock_run("regression", 20.0), no_val]}).verdict == NOT_MEASURED


def test_failed_runs_are_not_judged():
    failed = clock_run("regression", 10.0, "cyclic") | {"status": "failed"}
    assert cyclic_beats_mse({"clocks": [clock_run("regression", 40.0, "mse"), failed]}).verdict == NOT_MEASURED


def test_the_section_writes_the_table_the_checks_and_no_single_clock_pngs(tmp_path: Path):
    out = tmp_path / "clocks"
    out.mkdir()
    (out / "clock_table.md").write_text("# t\n\n| approach | test error (min) |\n|---|---|\n| two heads | 11.7 |\n")
    summary = SimpleNamespace(records=AS_REPORTED, figures={"clocks": ["clock_table.png", "gallery.png",
                                                                       "worst_01.png", "gallery.json"]})
    report = Report(summary, tmp_path)
    text = part_c_lab5.section_clocks(report)
    assert text.startswith("## C.5 Telling the time (experiment `clocks`)")
    assert "| two heads | 11.7 |" in text and "stand-in clocks, not the course's" in text
    assert "(clocks/gallery.png)" in text and "worst_01" not in text
    assert [f.verdict for f in report.findings] == [REPRODUCED] * 3
    empty = Report(SimpleNamespace(records={"clocks": []}, figures={}), tmp_path)
    assert "Not measured" in part_c_lab5.section_clocks(empty)
    assert [f.verdict for f in empty.findings] == [NOT_MEASURED] * 3


def test_no_claim_can_only_pass():
    # the 360-minute bound holds by construction (tests/test_lab5.py tests cyclic_error): it is not a claim
    assert [c.text for c in part_c_lab5.CLAIMS if "360" in c.text] == []


def test_the_study_is_registered_and_chosen_by_its_experiment():
    assert studies({"clocks": []}) == [part_c_lab5]
    assert part_c_lab5.EXPERIMENTS == ["clocks"] and part_c_lab5.LABEL == "Part C"
