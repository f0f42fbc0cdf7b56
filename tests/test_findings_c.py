"""Every Part C claim, judged on hand-made run records (no training), for
every verdict it can give."""

from __future__ import annotations

import pytest

from engine.studies import NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, studies
from engine.studies import part_c
from engine.studies.part_c import (knn_beats_centre, nonlinear_embedding_keeps, online_not_better_on_test,
                                   online_separates, pca_loses, generalise_below_fit)


def digits_run(space: str, centre: float, knn: float) -> dict:
    return {"status": "ok", "name": f"space={space}", "config": {"model": {"space": space, "k": 5}},
            "final": {"train_centre_accuracy": centre + 0.01, "test_centre_accuracy": centre,
                      "train_knn_accuracy": knn + 0.01, "test_knn_accuracy": knn}}


def perceptron_run(mode: str, train: float, test: float, epochs: int = 10) -> dict:
    return {"status": "ok", "name": f"mode={mode}", "config": {"model": {"mode": mode}, "optim": {"epochs": 50}},
            "history": {"epoch": list(range(1, epochs + 1))},
            "final": {"train_accuracy": train, "test_accuracy": test}}


LAB1 = {"digits": [digits_run("256d", 0.91, 0.97), digits_run("pca", 0.59, 0.57), digits_run("tsne", 0.93, 0.96)]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (knn_beats_centre, LAB1, REPRODUCED),
    (knn_beats_centre, {"digits": [digits_run("256d", 0.91, 0.90)]}, NOT_REPRODUCED),
    (knn_beats_centre, {"digits": [digits_run("pca", 0.5, 0.6)]}, NOT_MEASURED),
    (pca_loses, LAB1, REPRODUCED),
    (pca_loses, {"digits": [digits_run("256d", 0.91, 0.97), digits_run("pca", 0.92, 0.5)]}, NOT_REPRODUCED),
    (pca_loses, {"digits": [digits_run("256d", 0.91, 0.97)]}, NOT_MEASURED),
    (nonlinear_embedding_keeps, LAB1, REPRODUCED),
    (nonlinear_embedding_keeps, {"digits": [digits_run("256d", 0.9, 0.97), digits_run("umap", 0.8, 0.85)]},
     NOT_REPRODUCED),
    (nonlinear_embedding_keeps, {"digits": [digits_run("256d", 0.9, 0.97), digits_run("pca", 0.5, 0.5)]},
     NOT_MEASURED),
])
def test_lab1_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.1"


LAB2 = {"perceptron": [perceptron_run("batch", 0.9859, 0.881, 50), perceptron_run("online", 1.0, 0.872, 20)]}


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (online_separates, LAB2, REPRODUCED),
    (online_separates, {"perceptron": [perceptron_run("online", 0.99, 0.9)]}, NOT_REPRODUCED),
    (online_separates, {"perceptron": [perceptron_run("batch", 0.99, 0.9)]}, NOT_MEASURED),
    (online_not_better_on_test, LAB2, REPRODUCED),
    (online_not_better_on_test, {"perceptron": [perceptron_run("batch", 0.98, 0.88), perceptron_run("online", 1.0, 0.9)]},
     NOT_REPRODUCED),
    (online_not_better_on_test, {"perceptron": [perceptron_run("online", 1.0, 0.9)]}, NOT_MEASURED),
    (generalise_below_fit, LAB2, REPRODUCED),
    (generalise_below_fit, {"perceptron": [perceptron_run("batch", 0.9, 0.95)]}, NOT_REPRODUCED),
    (generalise_below_fit, {}, NOT_MEASURED),
])
def test_lab2_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.2"


def test_part_c_is_registered_and_chosen_by_its_experiments():
    assert studies({"digits": []}) == [part_c]
    assert part_c.EXPERIMENTS == ["digits", "perceptron"]
