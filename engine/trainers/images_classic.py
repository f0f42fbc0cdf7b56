"""The two image baselines that are not trained by gradient steps here:
XGBoost (default parameters) on flattened pixels, and scikit-learn's
``LogisticRegression()`` on the frozen backbone's 512-d features (computed
by the caller, ``engine.trainers.images``, which this module never imports)."""

from __future__ import annotations

import warnings

import numpy as np

from typing import Callable

from engine.data.images import SPLITS

MODES = ("xgboost", "sklearn_probe")

# XGBoost's input matrix (flattened pixels / 255, float32) per dataset and image size: built once per process
FLAT_CACHE: dict[tuple, dict[str, np.ndarray]] = {}


def flat_pixels(cfg, data) -> dict[str, np.ndarray]:
    """Each split's images as (n, pixels) float32 in [0, 1]; the same arrays for every seed of a sweep."""
    key = (id(data), data.source, tuple(data.sizes().items()), cfg.data.image_size)
    if key not in FLAT_CACHE:
        FLAT_CACHE.clear()  # one dataset at a time: a 224-px matrix is large
        FLAT_CACHE[key] = {s: data.x[s].reshape(len(data.x[s]), -1).numpy().astype(np.float32) / 255
                           for s in SPLITS}
    return FLAT_CACHE[key]


def fit_classic(cfg, data, features: Callable[[], dict],
                stopped: Callable[[], bool] = lambda: False) -> tuple[dict[str, np.ndarray] | None, str]:
    """Test/val/train probabilities of the positive class, and a note (e.g.
    no convergence); ``features()``: the frozen backbone's features per split
    (asked for only by the probe). XGBoost's boosting (about a minute on 64-px
    pixels on one core) looks at ``stopped()`` after every round and ends
    there when it is true: then (None, note)."""
    note = ""
    if cfg.model.mode == "xgboost":
        from xgboost import XGBClassifier
        from xgboost.callback import TrainingCallback

        class StopWhenAsked(TrainingCallback):
            def __init__(self) -> None:
                super().__init__()
                self.rounds, self.stopped = 0, False

            def after_iteration(self, model, epoch, evals_log) -> bool:
                self.rounds, self.stopped = epoch + 1, stopped()
                return self.stopped  # True ends the boosting

        flat = flat_pixels(cfg, data)
        watch = StopWhenAsked()
        model = XGBClassifier(random_state=cfg.system.seed, n_jobs=cfg.system.threads or None, callbacks=[watch])
        model.fit(flat["train"], data.y["train"].numpy())
        if watch.stopped:  # a stop after the last round keeps the finished model
            return None, f"stopped by request after {watch.rounds} boosting rounds"
        return {s: model.predict_proba(flat[s])[:, 1] for s in SPLITS}, note
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    feats = {s: f.cpu().numpy() for s, f in features().items()}
    model = LogisticRegression()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(feats["train"], data.y["train"].numpy())
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        note = "LogisticRegression (default parameters) stopped at max_iter before converging"
    return {s: model.predict_proba(feats[s])[:, 1] for s in SPLITS}, note
