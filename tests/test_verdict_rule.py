"""The decision rule (engine.studies.RULE): effects with 95 % intervals against a stated margin and side."""

import json
import math

import numpy as np
import pytest

from engine.studies import (BENCH, COURSE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Estimate,
                            claim, decide, finding_json, judge_claim, measure, not_measured, over_seeds,
                            paired_examples, per_seed, rate, rate_difference, two_samples)


def test_decide_puts_the_interval_against_the_margin():
    assert decide(Estimate(0.10, 0.05, 0.15, "t", 3), 0.02, ">") == REPRODUCED
    assert decide(Estimate(-0.10, -0.15, -0.05, "t", 3), 0.0, ">") == NOT_REPRODUCED
    assert decide(Estimate(0.01, -0.02, 0.04, "t", 3), 0.0, ">") == INCONCLUSIVE
    assert decide(Estimate(-0.1, -0.2, -0.05, "t", 3), 0.0, "<") == REPRODUCED
    assert decide(Estimate(0.1, 0.05, 0.2, "t", 3), 0.0, "<") == NOT_REPRODUCED
    assert decide(None) == NOT_MEASURED


def test_a_tie_at_the_margin_is_not_a_win():
    """A tie of zeros (nothing learned anywhere) is never a 'best': the effect must exceed the margin."""
    assert decide(Estimate(0.0, 0.0, 0.0, "t", 3), 0.0, ">") == NOT_REPRODUCED
    assert decide(Estimate(0.0, 0.0, 0.0, "t", 3), 0.0, "<") == NOT_REPRODUCED


def test_over_seeds_t_interval_and_one_seed():
    est = over_seeds([0.10, 0.12, 0.11])
    assert est.n == 3 and est.low < 0.11 < est.high and est.values == (0.10, 0.12, 0.11)
    # pure chance over 3 seeds (mixed signs) is inconclusive, not a firm verdict
    assert decide(over_seeds([0.05, -0.04, 0.02])) == INCONCLUSIVE
    one = over_seeds([0.3])
    assert one.n == 1 and math.isinf(one.low) and decide(one) == INCONCLUSIVE
    assert over_seeds([]) is None and over_seeds([float("nan")]) is None
    assert over_seeds([0.2, 0.2]).interval == (0.2, 0.2)


def test_rates_and_their_difference():
    r = rate(41, 50)
    assert r.effect == pytest.approx(0.82) and r.low < 0.82 < r.high and r.statistic.startswith("Wilson")
    # the example: 82 % vs 88 % of 50 nets is noise
    d = rate_difference(44, 50, 41, 50)
    assert d.low < 0 < d.high and decide(d) == INCONCLUSIVE
    assert decide(rate_difference(45, 50, 5, 50)) == REPRODUCED
    assert rate(0, 0) is None


def test_paired_examples_is_seeded_and_sees_noise():
    # a net gap of 9 digits of 1,000 (as the perceptron's batch vs online): 20 examples only a gets right, 11 only b
    a = np.r_[np.ones(20), np.zeros(11), np.ones(869), np.zeros(100)]
    b = np.r_[np.zeros(20), np.ones(11), np.ones(869), np.zeros(100)]
    est = paired_examples(a, b)
    assert est == paired_examples(a, b)  # same inputs, same interval
    assert est.n == 1000 and decide(est) != REPRODUCED
    big = paired_examples(np.ones(500), np.r_[np.ones(250), np.zeros(250)])
    assert decide(big, 0.2) == REPRODUCED
    assert paired_examples([1, 0], [1]) is None


def test_two_samples_medians():
    fast, slow = np.r_[np.full(40, 100.0), np.full(10, 300.0)], np.full(50, 400.0)
    est = two_samples(fast, slow)
    assert est.effect == -300 and decide(est, 0, "<") == REPRODUCED
    same = two_samples(np.full(20, 5000.0), np.full(20, 5000.0))  # every net at the cap: a tie
    assert decide(same, 0, "<") == NOT_REPRODUCED


def test_measure_unmet_precondition_and_missing():
    est = Estimate(0.5, 0.4, 0.6, "t", 3, (0.4, 0.5, 0.6))
    out = measure("gap", est, 0.1)
    assert out.verdict == REPRODUCED and out.rule == "effect > 0.1" and "per seed: 0.400" in out.measured
    assert measure("gap", est, 0.1, unmet="no unique winner").verdict == NOT_REPRODUCED
    assert measure("gap", None).verdict == NOT_MEASURED
    assert not_measured("budget too small").verdict == NOT_MEASURED


def _rec(seed, acc, exp="e", source="embedded default", **data):
    return {"experiment": exp, "status": "ok", "seed": seed, "final": {"acc": acc},
            "config": {"system": {"seed": seed}}, "data": {"name": "d", "source": source, **data}}


def test_judge_claim_fills_the_contract_and_tags_stand_ins():
    @claim("X.1", "acc is high", source=COURSE, course="0.9", experiments=("e",))
    def high(records):
        vals = per_seed(records, lambda rs: rs["e"][0]["final"]["acc"] if rs.get("e") else None)
        return measure("accuracy", over_seeds(list(vals.values())), 0.5)

    records = {"e": [_rec(1, 0.90), _rec(2, 0.92), _rec(3, 0.91)]}
    f = judge_claim(high, records)
    assert (f.verdict, f.seeds, f.source, f.course, f.n) == (REPRODUCED, 3, COURSE, "0.9", 3)
    assert f.effect == pytest.approx(0.91) and f.interval[0] > 0.5 and not f.standin
    stand = judge_claim(high, {"e": [_rec(1, 0.9, source="drawn shapes (STAND-IN)")]})
    assert stand.standin and stand.verdict == INCONCLUSIVE and finding_json(stand)["interval"] is None
    # an untrained model (chance accuracy) does not reproduce it
    assert judge_claim(high, {"e": [_rec(s, 0.1) for s in (1, 2, 3)]}).verdict == NOT_REPRODUCED
    json.dumps(finding_json(f))
    with pytest.raises(ValueError):
        claim("X", "y", source="other")


def test_bench_source_is_kept():
    @claim("X.2", "sanity", source=BENCH, experiments=("e",))
    def sanity(records):
        return measure("x", Estimate(1.0, 1.0, 1.0, "exact", 1), 0.5)

    assert judge_claim(sanity, {"e": [_rec(1, 0.9, standin=True)]}).source == BENCH
