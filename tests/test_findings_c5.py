"""Every Part C lab 5 claim (telling the time), judged on hand-made run
records (no training), for every verdict it can give; and the section."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.studies import NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Report, studies
from engine.studies import part_c_lab5
from engine.studies.part_c_lab5 import classification_beats_regression, cyclic_beats_mse, two_heads_beat_classification


def clock_run(head: str, test: float, loss: str = "cyclic", classes: int = 24, worst: float = 300.0,
              standin: bool = True, val: float | None = None) -> dict:
    return {"status": "ok", "name": f"{head},{loss},{classes}",
            "config": {"model": {"head": head, "loss": loss, "classes": classes, "channels": 16, "hidden": 128},
                       "optim": {"lr": 0.001, "epochs": 20, "batch_size": 64}},
            "data": {"source": "stand-in" if standin else "folder /x", "standin": standin},
            "final": {"train_error": test - 5, "val_error": test + 1 if val is None else val, "test_error": test},
            "clocks": {"max_error": {"train": worst - 10, "val": worst - 5, "test": worst}}}


AS_REPORTED = {"clocks": [clock_run("regression", 48.0, "mse"), clock_run("regression", 33.0, "cyclic"),
                          clock_run("classification", 30.0, classes=24), clock_run("classification", 22.9, classes=120),
                          clock_run("two_head", 11.7)]}
REG_ONLY = {"clocks": [clock_run("regression", 48.0, "mse")]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (cyclic_beats_mse, AS_REPORTED, REPRODUCED),
    (cyclic_beats_mse, {"clocks": [clock_run("regression", 40.0, "mse"), clock_run("regression", 45.0, "cyclic")]},
     NOT_REPRODUCED),
    (cyclic_beats_mse, REG_ONLY, NOT_MEASURED),
    (classification_beats_regression, AS_REPORTED, REPRODUCED),
    (classification_beats_regression, {"clocks": [clock_run("regression", 20.0), clock_run("classification", 25.0)]},
     NOT_REPRODUCED),
    (classification_beats_regression, REG_ONLY, NOT_MEASURED),
    (two_heads_beat_classification, AS_REPORTED, REPRODUCED),
    (two_heads_beat_classification, {"clocks": [clock_run("classification", 20.0), clock_run("two_head", 25.0)]},
     NOT_REPRODUCED),
    (two_heads_beat_classification, {"clocks": [clock_run("two_head", 11.0)]}, NOT_MEASURED),
])
def test_lab5_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.5"


def test_the_measured_text_quotes_the_reported_numbers_and_says_stand_in():
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
