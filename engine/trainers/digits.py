"""Lab 1 (STUDY Part C.1): distances on digits.

Class centres in the 256-d pixel space and the distances between them;
2-D embeddings (PCA, t-SNE, UMAP); nearest-centre and k-NN classifiers on
the 256-d data and on each embedding; correct / incorrect / accuracy per
(classifier, space, split) and confusion matrices. Pure functions on numpy
arrays that return plain dicts and arrays; nothing here draws or writes.

How test digits get into a 2-D space:
  * PCA and UMAP are fitted on the training digits only and the test digits
    are mapped with ``transform``.
  * t-SNE has no ``transform``. It is fitted once on train and test digits
    together (without their labels) and the rows are split afterwards. This
    is transductive: the test digits shape the map the classifiers are
    trained on, so t-SNE's test accuracy is not from a model that never saw
    the test images (it never saw their labels). Its training embedding is
    therefore not identical to a train-only t-SNE.
k-NN on the training split counts each training digit among its own
neighbours (``predict`` on the data it was fitted on), as a plain
re-evaluation does; so its train accuracy is optimistic, and with k = 1 it
is 100 % by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from engine import kit
from engine.errors import BenchError
from engine.trainers.embeddings import EMBEDDINGS, embed, embed_stoppable

SPACES = ("256d",) + EMBEDDINGS
CLASSIFIERS = ("centre", "knn")


def class_centres(x: np.ndarray, y: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """(num_classes, d): the mean of each class's rows."""
    missing = [c for c in range(num_classes) if not np.any(y == c)]
    if missing:
        raise ValueError(f"no training rows for class(es) {missing}")
    return np.stack([x[y == c].mean(axis=0) for c in range(num_classes)])


def centre_distances(centres: np.ndarray) -> np.ndarray:
    """(k, k): Euclidean distance between every pair of centres."""
    diff = centres[:, None, :] - centres[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))


def closest_pairs(distances: np.ndarray, count: int = 5) -> list[tuple[int, int, float]]:
    """The ``count`` pairs (i < j) of classes whose centres are closest:
    the digits hardest to tell apart by their centres."""
    i, j = np.triu_indices(len(distances), k=1)
    order = np.argsort(distances[i, j], kind="stable")[:count]
    return [(int(i[o]), int(j[o]), float(distances[i[o], j[o]])) for o in order]


def nearest_centre_predict(centres: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The class of the nearest centre (Euclidean) for every row of ``x``."""
    d2 = (x**2).sum(1)[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None, :]
    return np.argmin(d2, axis=1)


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, k: int = 5) -> np.ndarray:
    """k-nearest-neighbour (Euclidean, majority vote) labels for ``x_eval``."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k).fit(x_train, y_train).predict(x_eval)


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """correct / incorrect counts and accuracy (a fraction)."""
    correct = int(np.sum(y_true == y_pred))
    return {"correct": correct, "incorrect": int(len(y_true) - correct), "accuracy": correct / len(y_true)}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """(k, k) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def run_lab(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    k: int = 5,
    embeddings: tuple[str, ...] = EMBEDDINGS,
    seed: int = 0,
    num_classes: int = 10,
    on_phase: Callable[[str, dict], None] | None = None,
) -> dict:
    """The whole lab. Returns a plain dict:
      ``centres`` (k, 256), ``distances`` (k, k), ``closest_pairs``,
      ``embeddings``: space -> {"train": (n, 2), "test": (m, 2)},
      ``table``: rows {classifier, space, split, correct, incorrect, accuracy},
      ``confusion``: "classifier/space/split" -> (k, k) counts,
      ``seconds``: phase -> wall time.
    ``on_phase(name, info)`` is called after each phase (centres, each
    embedding, each space's classifiers) for progress reporting."""
    seconds: dict[str, float] = {}
    report = on_phase or (lambda name, info: None)

    # -- centres in 256-d
    start = time.perf_counter()
    centres = class_centres(x_train, y_train, num_classes)
    distances = centre_distances(centres)
    seconds["centres"] = time.perf_counter() - start
    report("centres", {"seconds": seconds["centres"]})

    # -- 2-D embeddings
    spaces = {"256d": {"train": x_train, "test": x_test}}
    for method in embeddings:
        start = time.perf_counter()
        train_2d, test_2d = embed(x_train, x_test, method, seed)
        spaces[method] = {"train": train_2d, "test": test_2d}
        seconds[method] = time.perf_counter() - start
        report(method, {"seconds": seconds[method]})

    # -- classifiers in every space
    table: list[dict] = []
    matrices: dict[str, np.ndarray] = {}
    truth = {"train": y_train, "test": y_test}
    for space, data in spaces.items():
        start = time.perf_counter()
        space_centres = centres if space == "256d" else class_centres(data["train"], y_train, num_classes)
        for classifier in CLASSIFIERS:
            for split in ("train", "test"):
                if classifier == "centre":
                    pred = nearest_centre_predict(space_centres, data[split])
                else:
                    pred = knn_predict(data["train"], y_train, data[split], k)
                table.append({"classifier": classifier, "space": space, "split": split, **score(truth[split], pred)})
                matrices[f"{classifier}/{space}/{split}"] = confusion(truth[split], pred, num_classes)
        seconds[f"classify_{space}"] = time.perf_counter() - start
        report(f"classify_{space}", {"seconds": seconds[f"classify_{space}"]})

    embedded = {s: d for s, d in spaces.items() if s != "256d"}
    return {
        "centres": centres,
        "distances": distances,
        "closest_pairs": closest_pairs(distances),
        "embeddings": embedded,
        "table": table,
        "confusion": matrices,
        "k": k,
        "seconds": seconds,
    }


def accuracy_of(table: list[dict], classifier: str, space: str, split: str) -> float:
    """Look one accuracy up in ``run_lab``'s table."""
    for row in table:
        if (row["classifier"], row["space"], row["split"]) == (classifier, space, split):
            return row["accuracy"]
    raise KeyError(f"{classifier}/{space}/{split}")


# ------------------------------------------------------------ the bench's kind
# One run = one space (the 256-d pixels or one 2-D embedding) with both
# classifiers: a sweep over ``model.space`` gives the lab's table, one row
# pair per run, and each embedding is computed once.
@dataclass(frozen=True)
class DigitsData:
    dataset: str = field(default="digits", metadata={"help": "dataset name (--data digits=DIR)"})
    path: str = field(default="", metadata={"help": "folder with train_in/out.csv, test_in/out.csv; empty = stand-in"})


@dataclass(frozen=True)
class DigitsModel:
    space: Literal["256d", "pca", "tsne", "umap"] = field(default="256d", metadata={
        "help": "where the classifiers work: the 256-d pixels or a 2-D embedding"})
    k: int = field(default=5, metadata={"help": "neighbours of the k-NN classifier"})


@dataclass(frozen=True)
class DigitsConfig:
    data: DigitsData = field(default_factory=DigitsData)
    model: DigitsModel = field(default_factory=DigitsModel)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


def check_config(cfg: DigitsConfig) -> None:
    kit.check_common(cfg)
    if cfg.model.k < 1:
        raise BenchError(f"model.k must be at least 1 (got {cfg.model.k})")


def fit(cfg: DigitsConfig, data, session: kit.RunSession) -> kit.Fitted:
    """Embed (unless 256-d), then the nearest-centre and k-NN classifiers;
    each phase is a step of the run's one epoch."""
    space, started = cfg.model.space, time.perf_counter()
    phases = 3
    session.start(1, phases, "cpu", note=f"space {space}, k = {cfg.model.k}")
    # -- the space
    x = {"train": data.x["train"], "test": data.x["test"]}
    if space != "256d":  # t-SNE and UMAP in a child process: a stop ends the fit at once
        planes = embed_stoppable(x["train"], x["test"], space, cfg.system.seed, lambda: session.stop_requested)
        if planes is None:
            session.tick(1, 0, phases)
            return kit.Fitted("stopped", f"stopped by request during the {space} fit")
        x["train"], x["test"] = planes
    if session.tick(1, 0, phases):
        return kit.Fitted("stopped", "stopped by request after the embedding")
    # -- the classifiers
    centres = class_centres(x["train"], data.y["train"], data.num_classes)
    table, matrices, test_predictions = [], {}, {}
    for step, classifier in enumerate(CLASSIFIERS, start=1):
        for split in ("train", "test"):
            if classifier == "centre":
                pred = nearest_centre_predict(centres, x[split])
            else:
                pred = knn_predict(x["train"], data.y["train"], x[split], cfg.model.k)
            table.append({"classifier": classifier, "space": space, "split": split,
                          **score(data.y[split], pred)})
            matrices[f"{classifier}/{split}"] = confusion(data.y[split], pred, data.num_classes).tolist()
            if split == "test":  # per test digit: what a paired test over the same digits needs
                test_predictions[classifier] = np.asarray(pred).astype(int).tolist()
        if session.tick(1, step, phases):
            return kit.Fitted("stopped", f"stopped by request after the {classifier} classifier")
    # -- record
    metrics = {f"{row['split']}_{row['classifier']}_accuracy": row["accuracy"] for row in table}
    session.epoch_end(1, metrics, (), time.perf_counter() - started)
    distances = centre_distances(centres)
    extra = {"table": table, "confusion": matrices, "centre_distances": distances.tolist(),
             "closest_pairs": closest_pairs(distances), "test_predictions": test_predictions,
             "test_labels": np.asarray(data.y["test"]).astype(int).tolist()}
    if space != "256d":
        extra["embedding"] = {"train": np.round(x["train"], 4).tolist(), "train_labels": data.y["train"].tolist()}
    return kit.Fitted("ok", "", extra={"digits": extra})
