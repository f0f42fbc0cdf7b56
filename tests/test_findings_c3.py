"""Every C.3 claim (engine/studies/part_c_lab3.py), judged on hand-made run
records of the `xor_course` and `xor` experiments: as reported, an untrained
bench (nothing solves, flat loss), the claim reversed, noise, and missing runs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.studies import (BENCH, COURSE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, STUDIES, Report,
                            judge_claim, studies)
from engine.studies import part_c_lab3
from engine.studies.part_c_lab3 import (best_setting, fastest_lr, most_nets_solve, rate_rises_with_lr,
                                        some_seeds_stick, sweep_counts, uniform_faster)

CAP = 10000
XOR_DATA = {"name": "xor", "source": "the four XOR points (built in)", "sizes": {"train": 4}}


# ------------------------------------------------------------------ xor_course records
def course_run(lr: float, init: str, iterations: list[int | None], seed: int = 42) -> dict:
    """One run's record: ``iterations`` per net, None for a net unsolved at the cap."""
    nets = [{"net": i, "seed": [seed, i], "init": init, "lr": lr, "solved": it is not None,
             "iterations": CAP if it is None else it, "final_loss": 0.01 if it is not None else 0.25}
            for i, it in enumerate(iterations)]
    solved = [n for n in nets if n["solved"]]
    return {"status": "ok", "name": f"init={init},lr={lr},seed={seed}", "seed": seed, "data": XOR_DATA,
            "config": {"model": {"init": init, "nets": len(nets)}, "optim": {"lr": lr, "max_iterations": CAP},
                       "system": {"seed": seed}},
            "final": {"loss": 0.05, "solve_rate": len(solved) / len(nets),
                      "median_iterations": float(np.median([n["iterations"] for n in nets]))},
            "xor_course": {"cap": CAP, "nets": nets}}


def draws(median: float, nets: int = 50, solved: float = 0.86, seed: int = 0) -> list[int | None]:
    """Iterations of ``nets`` nets around ``median`` (log-normal spread), a share unsolved at the cap."""
    rng = np.random.default_rng(seed)
    out = [int(v) for v in median * np.exp(rng.normal(0.0, 0.5, nets))]
    for i in rng.choice(nets, round(nets * (1 - solved)), replace=False):
        out[i] = None
    return out


def course(medians: dict[tuple[float, str], float], solved: float = 0.86, seeds=(42, 43, 44)) -> dict:
    """The xor_course experiment: 50 nets per (lr, init) and seed."""
    return {"xor_course": [course_run(lr, init, draws(m, solved=solved, seed=seed * 100 + round(10 * lr)), seed)
                           for (lr, init), m in medians.items() for seed in seeds]}


AS_REPORTED = course({(0.3, "uniform"): 3300, (0.6, "uniform"): 1650, (0.8, "uniform"): 1230,
                      (0.3, "normal"): 4400, (0.6, "normal"): 2200, (0.8, "normal"): 1650})
# nothing trains: every net unsolved at the cap (flat loss)
UNTRAINED = course({(lr, init): 1 for lr in (0.3, 0.6, 0.8) for init in ("uniform", "normal")}, solved=0.0)
REVERSED = course({(0.3, "uniform"): 1230, (0.6, "uniform"): 1650, (0.8, "uniform"): 3300,
                   (0.3, "normal"): 1200, (0.6, "normal"): 2200, (0.8, "normal"): 900})
FEW_SOLVE = course({(0.3, "uniform"): 3300, (0.8, "uniform"): 1230, (0.8, "normal"): 1650}, solved=0.3)


def tie() -> dict:
    """lr 0.6 and 0.8 trained the very same nets in the same iterations: no unique winner."""
    same = draws(1500, seed=7)
    return {"xor_course": [course_run(0.3, "uniform", draws(3300)), course_run(0.6, "uniform", same),
                           course_run(0.8, "uniform", same)]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (fastest_lr, AS_REPORTED, REPRODUCED),
    (fastest_lr, UNTRAINED, NOT_REPRODUCED),
    (fastest_lr, REVERSED, NOT_REPRODUCED),
    (fastest_lr, FEW_SOLVE, NOT_REPRODUCED),
    (fastest_lr, tie(), INCONCLUSIVE),
    (fastest_lr, course({(0.3, "uniform"): 3300, (0.6, "uniform"): 1650}), NOT_MEASURED),
    (fastest_lr, {}, NOT_MEASURED),
    (uniform_faster, AS_REPORTED, REPRODUCED),
    (uniform_faster, UNTRAINED, NOT_REPRODUCED),
    (uniform_faster, REVERSED, NOT_REPRODUCED),
    (uniform_faster, FEW_SOLVE, NOT_REPRODUCED),
    (uniform_faster, course({(0.8, "uniform"): 1230}), NOT_MEASURED),
    (most_nets_solve, AS_REPORTED, REPRODUCED),
    (most_nets_solve, UNTRAINED, NOT_REPRODUCED),
    (most_nets_solve, FEW_SOLVE, NOT_REPRODUCED),
    (most_nets_solve, {"xor_course": [course_run(0.8, "uniform", [1000] * 5 + [None] * 5)]}, INCONCLUSIVE),
    (most_nets_solve, {}, NOT_MEASURED),
])
def test_course_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.3" and claim.experiments == ("xor_course",)
    if verdict != NOT_MEASURED:
        assert outcome.interval is not None and outcome.interval[0] <= outcome.effect <= outcome.interval[1]


def test_the_fastest_lr_pools_inits_and_seeds_and_counts_the_unsolved_at_the_cap():
    outcome = fastest_lr(AS_REPORTED)
    assert outcome.n == 2 * 300  # lr 0.8 and the runner-up (0.6): 2 inits x 3 seeds x 50 nets each
    assert "runner-up's (lr 0.6)" in outcome.measured and outcome.statistic.startswith("bootstrap")
    assert outcome.effect > 0 and outcome.interval[0] > 0
    # an init that only lr 0.8 ran is left out of the pooling (each lr pools the same inits)
    extra = {"xor_course": AS_REPORTED["xor_course"] + [course_run(0.8, "other", [5] * 50)]}
    assert fastest_lr(extra).effect == outcome.effect and "(normal, uniform init pooled" in outcome.measured
    untrained = fastest_lr(UNTRAINED)
    assert untrained.effect == 0 and "0/300 solved" in untrained.measured and "under the floor" in untrained.measured


def test_course_findings_say_course_and_quote_the_course():
    finding = judge_claim(fastest_lr, AS_REPORTED)
    assert finding.source == COURSE and "2,963" in finding.course and finding.seeds == 3
    assert finding.data == "xor: the four XOR points (built in)" and not finding.standin
    assert judge_claim(most_nets_solve, AS_REPORTED).source == BENCH
    assert judge_claim(most_nets_solve, AS_REPORTED).statistic == "Wilson interval"


# ------------------------------------------------------------------ xor (the wider sweep) records
def sweep_run(lr: float, init: str, solved: int, nets: int = 100, seed: int = 42, loss: float = 0.1) -> dict:
    return {"status": "ok", "name": f"init={init},lr={lr}", "seed": seed, "data": XOR_DATA,
            "config": {"model": {"init": init, "seeds": nets}, "optim": {"lr": lr, "epochs": 3000},
                       "system": {"seed": seed}},
            "final": {"solve_rate": solved / nets, "loss": loss},
            "xor": {"seeds": list(range(seed, seed + nets)), "solved": [i < solved for i in range(nets)]}}


def sweep(solved: dict[tuple[float, str], int], loss: float = 0.1) -> dict:
    return {"xor": [sweep_run(lr, init, k, loss=loss) for (lr, init), k in solved.items()]}


def sweep_of(solved: dict[tuple[float, str], int], nets: int) -> dict:
    return {"xor": [sweep_run(lr, init, k, nets) for (lr, init), k in solved.items()]}


# lr 0.8, uniform best (88 % of 300 nets, the runner-up 80 %), the rate rising with a dip of 8 points at 1.6
SWEEP = sweep_of({(0.1, "uniform"): 0, (0.4, "uniform"): 165, (0.8, "uniform"): 264, (1.6, "uniform"): 240,
                  (0.1, "normal"): 0, (0.4, "normal"): 135, (0.8, "normal"): 186, (1.6, "normal"): 225}, 300)
SWEEP_UNTRAINED = sweep({key: 0 for key in [(lr, init) for lr in (0.1, 0.4, 0.8, 1.6)
                                            for init in ("uniform", "normal")]}, loss=0.25)


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (best_setting, SWEEP, REPRODUCED),
    (best_setting, SWEEP_UNTRAINED, NOT_REPRODUCED),
    (best_setting, sweep({(0.8, "uniform"): 60, (1.6, "normal"): 95}), NOT_REPRODUCED),
    (best_setting, sweep({(0.8, "uniform"): 88, (1.6, "normal"): 82}), INCONCLUSIVE),  # 88 % vs 82 %: noise
    (best_setting, sweep({(0.4, "uniform"): 80, (1.6, "normal"): 90}), NOT_MEASURED),
    (rate_rises_with_lr, SWEEP, REPRODUCED),
    (rate_rises_with_lr, SWEEP_UNTRAINED, NOT_REPRODUCED),
    (rate_rises_with_lr, sweep({(0.1, "uniform"): 85, (0.8, "uniform"): 10}), NOT_REPRODUCED),
    (rate_rises_with_lr, sweep({(0.1, "uniform"): 0, (0.4, "uniform"): 90, (0.8, "uniform"): 60,
                                (1.6, "uniform"): 92}), NOT_REPRODUCED),  # a fall beyond noise on the way
    (rate_rises_with_lr, sweep({(0.8, "uniform"): 80}), NOT_MEASURED),
    (some_seeds_stick, SWEEP, REPRODUCED),
    (some_seeds_stick, SWEEP_UNTRAINED, NOT_REPRODUCED),
    (some_seeds_stick, sweep({(0.8, "uniform"): 100, (0.4, "uniform"): 70}), INCONCLUSIVE),
    (some_seeds_stick, {}, NOT_MEASURED),
])
def test_sweep_checks(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.3" and claim.source == BENCH


def test_every_claim_rejects_the_untrained_and_the_reversed_bench():
    untrained = {**UNTRAINED, **SWEEP_UNTRAINED}
    # each claim reversed: lr 0.8 and uniform slowest, few nets solve; other settings best, the rate falling,
    # every net solving
    reversed_course = course({(0.3, "uniform"): 900, (0.8, "uniform"): 3300, (0.8, "normal"): 1000}, solved=0.3)
    reversed_sweep = sweep({(0.1, "uniform"): 100, (0.8, "uniform"): 20, (1.6, "normal"): 90, (0.1, "normal"): 100})
    reversed_ = {**reversed_course, **reversed_sweep}
    claims = (fastest_lr, uniform_faster, most_nets_solve, best_setting, rate_rises_with_lr, some_seeds_stick)
    assert len(claims) == len([c for section in ("xor", "xor_course") for c in claims if section in c.experiments])
    for c in claims:
        assert c(untrained).verdict == NOT_REPRODUCED, c.text
        assert c(reversed_).verdict != REPRODUCED, c.text
        assert c(AS_REPORTED | SWEEP).verdict == REPRODUCED, c.text


def test_overlapping_sweep_seeds_count_each_net_once():
    records = {"xor": [sweep_run(0.8, "uniform", 50, seed=42), sweep_run(0.8, "uniform", 50, seed=43)]}
    assert sweep_counts(records) == {(0.8, "uniform"): (51, 101)}  # nets 42..141 and 43..142: 101 nets
    without = {"xor": [{k: v for k, v in sweep_run(0.4, "normal", 30).items() if k != "xor"}]}
    assert sweep_counts(without) == {(0.4, "normal"): (30, 100)}


def test_the_study_is_registered_after_part_c_and_renders_both_sections(tmp_path):
    assert STUDIES.index("engine.studies.part_c_lab3") == STUDIES.index("engine.studies.part_c") + 1
    assert studies({"xor_course": []}) == [part_c_lab3] and studies({"xor": []}) == [part_c_lab3]
    report = Report(SimpleNamespace(records={**AS_REPORTED, **SWEEP}, figures={}), tmp_path)
    text = "\n".join(section(report) for section in part_c_lab3.SECTIONS)
    assert "## C.3 XOR from scratch (experiment `xor`)" in text
    assert "## C.3 XOR as the course ran it (experiment `xor_course`)" in text and "10,000 iterations" in text
    assert [f.verdict for f in report.findings] == [REPRODUCED] * 6
    empty = Report(SimpleNamespace(records={"xor": []}, figures={}), tmp_path)
    assert "Not measured" in part_c_lab3.section_course(empty)
    assert {f.verdict for f in empty.findings} == {NOT_MEASURED}
