"""STUDY Part C, lab 5: telling the time from analog clocks, answered from the
`clocks` runs' records.

Every claim reads the approaches from the records (``model.head``,
``model.loss``, ``model.classes``) and compares final test errors in
"common sense" minutes; where a family has several runs (classification
over k), its best run is chosen by VALIDATION error and its test error is
compared (choosing on test would be optimistic, and more so for the family
with more runs), by a paired bootstrap over the same test clocks (the runs
keep every test clock's error). The course's reported numbers are quoted
beside the measured ones and set only the "learns" bar (halfway from chance,
180 min, to the course's figure). The verdicts flip with the training
budget, so they are judged only at ``JUDGED_EPOCHS`` epochs or more.
"""

from __future__ import annotations

from typing import Callable

from engine.studies import (BENCH, COURSE, Outcome, Report, Records, claim, is_standin, measure, not_measured,
                            of_seed, per_seed, seeds_of, status_note, usable)
from engine.studies.paired import mean_of, paired_over_seeds

LABEL = "Part C"
TITLE = f"{LABEL} — lab 5: telling the time"
EXPERIMENTS = ["clocks"]
EXPERIMENT = "clocks"
REPORTED = {"regression": "33–48 min", "classification": "22.9 min", "two_head": "11.7 min"}


def test_error(run: dict) -> float | None:
    return (run.get("final") or {}).get("test_error")


def val_error(run: dict) -> float | None:
    return (run.get("final") or {}).get("val_error")


def runs_by(records: Records, head: str) -> list[dict]:
    """The usable runs of one head that have a validation and a test error."""
    return [r for r in usable(records, EXPERIMENT)
            if r["config"]["model"]["head"] == head and test_error(r) is not None and val_error(r) is not None]


def regression(records: Records, loss: str) -> dict | None:
    return next((r for r in runs_by(records, "regression") if r["config"]["model"]["loss"] == loss), None)


def best(runs: list[dict]) -> dict | None:
    """The run with the lowest validation error (chosen on val, never on test)."""
    return min(runs, key=val_error) if runs else None


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} min"


def name_of(run: dict) -> str:
    m = run["config"]["model"]
    if m["head"] == "regression":
        return f"{'cyclic' if m['loss'] == 'cyclic' else 'MSE'} regression"
    if m["head"] == "classification":
        return f"{m['classes']} classes"
    return f"two heads ({'cyclic' if m['loss'] == 'cyclic' else 'MSE'} minutes)"


def stand_in(records: Records) -> str:
    """' (stand-in clocks)' when any run read the bench's rendered clocks."""
    runs = usable(records, EXPERIMENT)
    return " (stand-in clocks)" if any(is_standin(r) for r in runs) else ""


CHANCE_ERROR = 180.0  # minutes: a uniformly random reading's mean common-sense error
COURSE_ERROR = {"regression": 48.0, "classification": 22.9, "two_head": 11.7}  # the course's (worst regression)
JUDGED_EPOCHS = 30  # report.toml's course-size budget (STUDY gives no epoch count); the verdicts flip below it


def budget_too_small(records: Records) -> str | None:
    """Why the clocks' claims are not judged on these runs (too few epochs), or None."""
    epochs = sorted({r["config"]["optim"]["epochs"] for r in usable(records, EXPERIMENT)})
    if epochs and epochs[0] < JUDGED_EPOCHS:
        return (f"not judged at {epochs[0]} epochs: the clocks' verdicts flip with the training budget, so they are "
                f"judged only at {JUDGED_EPOCHS} epochs or more (report.toml's course-size budget)")
    return None


def errors(run: dict | None) -> tuple[list[float], tuple] | None:
    """Per test clock: the common-sense error (minutes), and the true times (the clocks' identity)."""
    test = ((run or {}).get("clocks") or {}).get("test") or {}
    err, true = test.get("error"), test.get("true")
    if not isinstance(err, list) or not isinstance(true, list) or len(err) != len(true):
        return None
    return [float(e) for e in err], tuple(true)


def unique_best(runs: list[dict]) -> tuple[dict | None, str | None]:
    """The run of lowest validation error, or why there is none (no run, or a tie)."""
    top = best(runs)
    if top is None:
        return None, None
    tied = [r for r in runs if val_error(r) == val_error(top)]
    return top, (None if len(tied) == 1 else f"no unique best: {len(tied)} runs tie at validation error "
                 f"{minutes(val_error(top))}")


def paired_errors(records: Records, worse: Callable[[Records], dict | None], better: Callable[[Records], dict | None]):
    """Per test clock: worse's error − better's error, every seed (see engine.studies.paired)."""
    def one(r: Records):
        a, b = errors(worse(r)), errors(better(r))
        return None if a is None or b is None or a[1] != b[1] else (a[0], b[0], a[1])
    return paired_over_seeds(records, one)


def not_learned(records: Records, head: str, pick: Callable[[Records], dict | None]) -> str | None:
    err = mean_of(per_seed(records, lambda r: (lambda run: None if run is None else test_error(run))(pick(r)))
                  .values())
    bar = CHANCE_ERROR - 0.5 * (CHANCE_ERROR - COURSE_ERROR[head])
    if err is None or err <= bar:
        return None
    return (f"nothing learned: {head.replace('_', ' ')} errs {minutes(err)} on test, above the bar {minutes(bar)} "
            f"(halfway from chance, {minutes(CHANCE_ERROR)}, to the course's {minutes(COURSE_ERROR[head])})")


def ties(records: Records, head: str) -> str | None:
    """A tie among a head's best runs on some seed (no unique winner), if any."""
    seeds = seeds_of(records)
    groups = [of_seed(records, seed) for seed in seeds] if seeds else [records]
    return next((why for g in groups if (why := unique_best(runs_by(g, head))[1])), None)


def best_of(head: str) -> Callable[[Records], dict | None]:
    return lambda r: unique_best(runs_by(r, head))[0]


def reg_of(loss: str) -> Callable[[Records], dict | None]:
    return lambda r: regression(r, loss)


@claim("C.5", "the cyclic loss beats MSE regression (test error)", source=BENCH, experiments=(EXPERIMENT,))
def cyclic_beats_mse(records: Records) -> Outcome:
    mse, cyclic = regression(records, "mse"), regression(records, "cyclic")
    if mse is None or cyclic is None:
        return not_measured()
    if (why := budget_too_small(records)):
        return not_measured(why)
    est = paired_errors(records, reg_of("mse"), reg_of("cyclic"))
    return measure(f"test error: cyclic {minutes(test_error(cyclic))}, MSE {minutes(test_error(mse))}"
                   f"{stand_in(records)}; effect = MSE − cyclic (minutes)", est, 0.0, ">", digits=1,
                   unmet=not_learned(records, "regression", reg_of("cyclic")))


@claim("C.5", "the best classification beats the best regression (test error; best chosen by validation error)",
       source=COURSE, course=f"classification {REPORTED['classification']}, regression {REPORTED['regression']}",
       experiments=(EXPERIMENT,))
def classification_beats_regression(records: Records) -> Outcome:
    top_class, top_reg = best(runs_by(records, "classification")), best(runs_by(records, "regression"))
    if top_class is None or top_reg is None:
        return not_measured()
    if (why := budget_too_small(records)):
        return not_measured(why)
    est = paired_errors(records, best_of("regression"), best_of("classification"))
    return measure(f"best classification by validation ({name_of(top_class)}) test {minutes(test_error(top_class))}, "
                   f"best regression by validation ({name_of(top_reg)}) test {minutes(test_error(top_reg))}"
                   f"{stand_in(records)}; effect = regression − classification (minutes)", est, 0.0, ">", digits=1,
                   unmet=not_learned(records, "classification", best_of("classification"))
                   or ties(records, "classification") or ties(records, "regression"))


@claim("C.5", "two heads (12 hours + minutes) beat the best classification (test error; best chosen by "
             "validation error)", source=COURSE,
       course=f"two heads {REPORTED['two_head']}, classification {REPORTED['classification']}",
       experiments=(EXPERIMENT,))
def two_heads_beat_classification(records: Records) -> Outcome:
    two, top_class = best(runs_by(records, "two_head")), best(runs_by(records, "classification"))
    if two is None or top_class is None:
        return not_measured()
    if (why := budget_too_small(records)):
        return not_measured(why)
    est = paired_errors(records, best_of("classification"), best_of("two_head"))
    return measure(f"{name_of(two)} test {minutes(test_error(two))}, best classification by validation "
                   f"({name_of(top_class)}) test {minutes(test_error(top_class))}{stand_in(records)}; "
                   "effect = classification − two heads (minutes)", est, 0.0, ">", digits=1,
                   unmet=not_learned(records, "two_head", best_of("two_head"))
                   or ties(records, "classification") or ties(records, "two_head"))


# (that no error exceeds 360 min holds by construction of the common-sense error: a unit test, not a claim)
CLAIMS = (cyclic_beats_mse, classification_beats_regression, two_heads_beat_classification)


def section_clocks(s: Report) -> str:
    parts = ["## C.5 Telling the time (experiment `clocks`)", ""]
    runs = s.records.get(EXPERIMENT, [])
    if not runs:
        s.check_quietly(*CLAIMS)
        return "\n".join(parts + ["Not measured: the `clocks` experiment has no runs."])
    sources = sorted({(r.get("data") or {}).get("source", "") for r in runs})
    splits = sorted({(r.get("data") or {}).get("split", "") for r in runs} - {""})
    first = runs[0]["config"]
    parts += ["Data: " + "; ".join(sources) + (f" ({'; '.join(splits)})" if splits else "") + ".", "",
              f"One run per approach on the same small CNN (4 conv blocks from {first['model']['channels']} "
              f"channels, a dense layer of {first['model']['hidden']}), Adam at lr {first['optim']['lr']:g}, "
              f"{first['optim']['epochs']} epochs of batches of {first['optim']['batch_size']}. Regression says the "
              "time as one number (MSE on minutes / 720; 12:00 sits at both ends) or as the dial angle's "
              "(sin, cos) (cyclic); classification cuts the 12 hours into k classes and reads the class centre; "
              "two heads classify the hour (12 classes) and regress the minute (cyclic-aware, as (sin, cos) of "
              "its angle, when `model.loss` is cyclic). Errors are mean \"common sense\" minutes: the shorter "
              "way round the dial, so 11:50 read as 00:10 is 20 minutes and no error exceeds 360. Where an "
              "approach has several runs (classification over k), its best run is chosen by validation error "
              "and its test error is reported and compared; runs are never chosen on the test set.", ""]
    table = s.out / EXPERIMENT / "clock_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    parts += [f"Reported on the course's 18,000 clocks (150 px): regression {REPORTED['regression']}, best "
              f"classification {REPORTED['classification']}, two heads {REPORTED['two_head']} (test error)."
              + (" The numbers here are on the bench's stand-in clocks, not the course's." if stand_in(s.records)
                 else ""), ""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(c) for c in CLAIMS]
    # the gallery's one-clock PNGs (worst_*.png, for the TUI) stay out of the report: gallery.png shows them
    parts += ["", "\n\n".join(f"![{EXPERIMENT}: {name}]({EXPERIMENT}/{name})" for name in s.figures.get(EXPERIMENT, [])
                               if name.endswith(".png") and not name.startswith("worst_"))]
    return "\n".join(parts)


SECTIONS = [section_clocks]
