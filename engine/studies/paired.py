"""Helpers of Part C's claims (not a study): two models compared on the same test examples, every seed.

A run that keeps per-example test results (``test_predictions`` and ``test_labels`` under its kind's key,
or the clocks' per-clock errors) lets a one-seed comparison of two models have an interval: a paired
bootstrap over the test examples (``engine.studies.paired_examples``). With several seeds on one test set
(the same labels in the same order), each example's score is its mean over the seeds, so the examples
stay the unit the interval rests on; seeds on different test sets are pooled example by example.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from engine.studies import Estimate, Records, paired_examples, per_seed

CHANCE_SHARE = 0.5  # "learns": at least halfway from chance to the course's figure


def learn_bar(chance: float, course: float) -> float:
    """The bar a model must pass to count as trained: halfway from chance to the course's figure."""
    return chance + CHANCE_SHARE * (course - chance)


def correct(run: dict | None, kind: str, classifier: str | None = None) -> tuple[list[float], tuple] | None:
    """Per test example 1.0 (right) or 0.0 (wrong), and the labels (the examples' identity); None if not saved."""
    saved = (run or {}).get(kind) or {}
    predictions, labels = saved.get("test_predictions"), saved.get("test_labels")
    if isinstance(predictions, dict):
        predictions = predictions.get(classifier)
    if not isinstance(predictions, list) or not isinstance(labels, list) or len(predictions) != len(labels):
        return None
    return [float(p == t) for p, t in zip(predictions, labels)], tuple(labels)


Pair = tuple[Sequence[float], Sequence[float], tuple]  # a's and b's per-example scores, and the examples' identity


def paired_over_seeds(records: Records, pair: Callable[[Records], Pair | None],
                      what: str = "paired bootstrap over test examples") -> Estimate | None:
    """mean(a − b) over the same test examples, every seed's runs paired within the seed (see the module)."""
    pairs = [p for p in per_seed(records, pair).values() if p is not None]
    if not pairs or any(len(a) != len(b) for a, b, _ in pairs):
        return None
    per = tuple(float(np.mean(np.asarray(a, float) - np.asarray(b, float))) for a, b, _ in pairs)
    if len(pairs) == 1:
        est = paired_examples(pairs[0][0], pairs[0][1], what)
    elif all(key == pairs[0][2] for _, _, key in pairs):
        a = np.mean([np.asarray(p[0], float) for p in pairs], axis=0)
        b = np.mean([np.asarray(p[1], float) for p in pairs], axis=0)
        est = paired_examples(a, b, f"{what} (each example's mean over {len(pairs)} seeds)")
    else:
        a = np.concatenate([np.asarray(p[0], float) for p in pairs])
        b = np.concatenate([np.asarray(p[1], float) for p in pairs])
        est = paired_examples(a, b, f"{what} ({len(pairs)} seeds' test sets pooled)")
    return None if est is None else dataclasses.replace(est, values=per if len(per) > 1 else ())


def mean_of(values: Sequence[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return float(np.mean(xs)) if xs else None
