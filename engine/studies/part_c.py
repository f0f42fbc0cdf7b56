"""STUDY Part C, labs 1-2: distances on digits and a perceptron, answered
from the `digits` and `perceptron` runs' records (lab 3, XOR:
``part_c_lab3``).

Every claim reads its settings (spaces, modes) from
the records. C.1 and C.2 compare two classifiers (or update schedules) on the
same test digits with a paired bootstrap over the digits (the runs keep their
per-digit predictions; see ``engine.studies.paired``); the course's reported
numbers are quoted beside the measured ones and set only the "learns" bar:
halfway from chance (10 %) to the course's figure.
"""

from __future__ import annotations

from typing import Callable

from engine.studies import (BENCH, COURSE, Estimate, Outcome, Report, Records, claim, measure, not_measured,
                            over_seeds, per_seed, rate, status_note, usable)
from engine.studies.paired import correct, learn_bar, mean_of, paired_over_seeds

LABEL = "Part C"
TITLE = f"{LABEL} — labs 1-2: distances, perceptron"
EXPERIMENTS = ["digits", "perceptron"]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


# ------------------------------------------------------------------ C.1 distances
def digit_runs(records: Records) -> dict[str, dict]:
    """The `digits` runs by space (256d, pca, tsne, umap)."""
    runs: dict[str, dict] = {}
    for r in usable(records, "digits"):
        runs.setdefault(r["config"]["model"]["space"], r)
    return runs


def accuracy(run: dict | None, split: str, classifier: str) -> float | None:
    return None if run is None else run["final"].get(f"{split}_{classifier}_accuracy")


CHANCE = 0.1  # ten classes
COURSE_C1 = {"centre": 0.8040, "knn": 0.9140}  # the course's test accuracies (STUDY C.1)


def space_correct(records: Records, space: str, classifier: str) -> tuple[list[float], tuple] | None:
    return correct(digit_runs(records).get(space), "digits", classifier)


def learned(records: Records, space: str, classifier: str) -> str | None:
    """None when the space's classifier passes the "learns" bar on test (mean over seeds), else why not."""
    acc = mean_of(per_seed(records, lambda r: accuracy(digit_runs(r).get(space), "test", classifier)).values())
    bar = learn_bar(CHANCE, COURSE_C1[classifier])
    name = "k-NN" if classifier == "knn" else "nearest centre"
    if acc is None or acc >= bar:
        return None
    return (f"nothing learned: {name} in {space} reaches {pct(acc)} on test, below the bar {pct(bar)} "
            f"(halfway from chance {pct(CHANCE)} to the course's {pct(COURSE_C1[classifier])})")


@claim("C.1", "k-NN beats the nearest centre on test (256-d pixels)", source=COURSE,
       course="k-NN 91.40 %, nearest centre 80.40 % (test)", experiments=("digits",))
def knn_beats_centre(records: Records) -> Outcome:
    def pair(r: Records):
        knn, centre = space_correct(r, "256d", "knn"), space_correct(r, "256d", "centre")
        return None if knn is None or centre is None else (knn[0], centre[0], knn[1])

    est = paired_over_seeds(records, pair)
    if est is None:
        return not_measured()
    run = digit_runs(records).get("256d")
    k = run["config"]["model"]["k"]
    return measure(f"test accuracy: {k}-NN {pct(accuracy(run, 'test', 'knn'))}, nearest centre "
                   f"{pct(accuracy(run, 'test', 'centre'))}; effect = k-NN − centre", est, 0.0, ">",
                   unmet=learned(records, "256d", "knn"))


@claim("C.1", "a 2-D PCA loses accuracy against the 256-d pixels (both classifiers, test)", source=BENCH,
       experiments=("digits",))
def pca_loses(records: Records) -> Outcome:
    ests = {}
    for c in ("centre", "knn"):
        def pair(r: Records, c=c):
            full, pca = space_correct(r, "256d", c), space_correct(r, "pca", c)
            return None if full is None or pca is None else (full[0], pca[0], full[1])
        ests[c] = paired_over_seeds(records, pair)
    if any(e is None for e in ests.values()):
        return not_measured()
    weaker = min(ests, key=lambda c: ests[c].low)  # both must lose: judged on the weaker loss
    runs = digit_runs(records)
    text = "test accuracy 256-d → PCA: " + ", ".join(
        f"{'nearest centre' if c == 'centre' else 'k-NN'} {pct(accuracy(runs['256d'], 'test', c))} → "
        f"{pct(accuracy(runs['pca'], 'test', c))}" for c in ests)
    name = "nearest centre" if weaker == "centre" else "k-NN"
    return measure(f"{text}; effect = 256-d − PCA for the classifier that loses least ({name})", ests[weaker],
                   0.0, ">", unmet=learned(records, "256d", "knn") or learned(records, "256d", "centre"))


KEEP_MARGIN = 0.05  # "stays within 5 points"


@claim("C.1", "k-NN in a non-linear 2-D embedding (t-SNE or UMAP) stays within 5 points of 256-d on test",
       source=BENCH, experiments=("digits",))
def nonlinear_embedding_keeps(records: Records) -> Outcome:
    runs = digit_runs(records)
    found = {s: accuracy(runs.get(s), "test", "knn") for s in ("tsne", "umap") if s in runs}
    if not found:
        return not_measured()
    space = max(found, key=lambda s: found[s] or 0.0)  # the better embedding (both are reported)

    def pair(r: Records):
        emb, full = space_correct(r, space, "knn"), space_correct(r, "256d", "knn")
        return None if emb is None or full is None else (emb[0], full[0], full[1])

    est = paired_over_seeds(records, pair)
    if est is None:
        return not_measured()
    full = accuracy(runs.get("256d"), "test", "knn")
    return measure(f"k-NN test accuracy: 256-d {pct(full)}, " + ", ".join(f"{s} {pct(v)}" for s, v in found.items())
                   + f"; effect = {space} − 256-d", est, -KEEP_MARGIN, ">",
                   unmet=learned(records, "256d", "knn") or learned(records, space, "knn"))


def section_distances(s: Report) -> str:
    parts = ["## C.1 Distances on digits (experiment `digits`)", ""]
    runs = s.records.get("digits", [])
    claims = (knn_beats_centre, pca_loses, nonlinear_embedding_keeps)
    if not runs:
        s.check_quietly(*claims)
        return "\n".join(parts + ["Not measured: the `digits` experiment has no runs."])
    sources = sorted({(r.get("data") or {}).get("source", "") for r in runs})
    parts += ["Data: " + "; ".join(sources) + ".", "",
              "One run per space: the 256-d pixels, or a 2-D embedding fitted on the training digits (PCA and "
              "UMAP map the test digits with `transform`; t-SNE has none and is fitted on train and test digits "
              "together, without their labels). In each space: the nearest class centre, and k-NN.", ""]
    table = s.out / "digits" / "accuracy_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    full = digit_runs(s.records).get("256d")
    if full is not None:
        pairs = (full.get("digits") or {}).get("closest_pairs") or []
        if pairs:
            parts += ["Closest class centres in 256-d (the digits hardest to tell apart by their centres): "
                      + ", ".join(f"{i} and {j} ({d:.1f})" for i, j, d in pairs[:3]) + ".", ""]
        parts += [f"In 256-d: nearest centre {pct(accuracy(full, 'train', 'centre'))} train / "
                  f"{pct(accuracy(full, 'test', 'centre'))} test, k-NN {pct(accuracy(full, 'train', 'knn'))} / "
                  f"{pct(accuracy(full, 'test', 'knn'))} (reported on the course's data: centre 86.35 % / "
                  "80.40 %, k-NN 97.89 % / 91.40 %). k-NN's train accuracy counts each digit among its own "
                  "neighbours, so it is optimistic.", ""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(c) for c in claims]
    parts += ["", s.figure_links("digits")]
    return "\n".join(parts)


# ------------------------------------------------------------------ C.2 perceptron
def perceptron_runs(records: Records) -> dict[str, dict]:
    """The `perceptron` runs by mode (batch, online); the first of each."""
    runs: dict[str, dict] = {}
    for r in usable(records, "perceptron"):
        runs.setdefault(r["config"]["model"]["mode"], r)
    return runs


COURSE_C2 = {"batch": (0.9859, 0.8810), "online": (1.0, 0.8720)}  # (train, test), STUDY C.2
SEPARATED = 0.999  # "100 % training accuracy": above 99.9 % on every seed's mean (at most 1 digit in 1,000 wrong)


def mode_value(mode: str, key: str) -> Callable[[Records], float | None]:
    def value(r: Records) -> float | None:
        run = perceptron_runs(r).get(mode)
        return None if run is None else run["final"].get(key)
    return value


def perceptron_learned(records: Records, *modes: str) -> str | None:
    """None when each mode's test accuracy passes the "learns" bar (mean over seeds), else why not."""
    for mode in modes:
        acc = mean_of(per_seed(records, mode_value(mode, "test_accuracy")).values())
        bar = learn_bar(CHANCE, COURSE_C2[mode][1])
        if acc is not None and acc < bar:
            return (f"nothing learned: {mode} reaches {pct(acc)} on test, below the bar {pct(bar)} (halfway from "
                    f"chance {pct(CHANCE)} to the course's {pct(COURSE_C2[mode][1])})")
    return None


def per_seed_text(records: Records, key: str) -> str:
    modes = sorted(perceptron_runs(records))
    return "; ".join(f"{m} " + ", ".join(pct(v) for v in per_seed(records, mode_value(m, key)).values()
                                         if v is not None) for m in modes)


@claim("C.2", "online updates reach 100 % training accuracy", source=COURSE, course="online 100 % (train)",
       experiments=("perceptron",))
def online_separates(records: Records) -> Outcome:
    values = [v for v in per_seed(records, mode_value("online", "train_accuracy")).values() if v is not None]
    est = over_seeds(values)
    if est is None:
        return not_measured()
    run = perceptron_runs(records)["online"]
    epochs = (run.get("history") or {}).get("epoch") or [0]
    return measure(f"online train accuracy per seed: {', '.join(pct(v) for v in values)} (first seed after "
                   f"{epochs[-1]} epochs of at most {run['config']['optim']['epochs']})", est, SEPARATED, ">",
                   digits=4)


@claim("C.2", "online updates fit the training set better than batch", source=COURSE,
       course="train: online 100 %, batch 98.59 %", experiments=("perceptron",))
def online_fits_better(records: Records) -> Outcome:
    def gap(r: Records) -> float | None:
        o, b = mode_value("online", "train_accuracy")(r), mode_value("batch", "train_accuracy")(r)
        return None if o is None or b is None else o - b

    est = over_seeds([v for v in per_seed(records, gap).values() if v is not None],
                     "t interval of the per-seed differences")
    if est is None:
        return not_measured()
    return measure(f"train accuracy: {per_seed_text(records, 'train_accuracy')}; effect = online − batch", est,
                   0.0, ">", unmet=perceptron_learned(records, "online", "batch"), digits=4)


@claim("C.2", "batch updates generalise better than online (test accuracy)", source=COURSE,
       course="test: batch 88.10 %, online 87.20 %", experiments=("perceptron",))
def batch_better_on_test(records: Records) -> Outcome:
    def pair(r: Records):
        runs = perceptron_runs(r)
        b, o = correct(runs.get("batch"), "perceptron"), correct(runs.get("online"), "perceptron")
        return None if b is None or o is None else (b[0], o[0], b[1])

    est = paired_over_seeds(records, pair)
    if est is None:
        return not_measured()
    return measure(f"test accuracy: {per_seed_text(records, 'test_accuracy')}; effect = batch − online", est, 0.0,
                   ">", unmet=perceptron_learned(records, "online", "batch"), digits=4)


@claim("C.2", "both schedules generalise worse than they fit: test accuracy below train accuracy", source=COURSE,
       course="batch 98.59 % / 88.10 %, online 100 % / 87.20 % (train / test)", experiments=("perceptron",))
def generalise_below_fit(records: Records) -> Outcome:
    ests = {}
    for mode in sorted(perceptron_runs(records)):
        train = mean_of(per_seed(records, mode_value(mode, "train_accuracy")).values())
        scores = [c for c in per_seed(records, lambda r, m=mode: correct(perceptron_runs(r).get(m), "perceptron"))
                  .values() if c is not None]
        if train is None or not scores:
            continue
        if all(c[1] == scores[0][1] for c in scores):  # one test set: its size is n, its accuracy the seeds' mean
            n = len(scores[0][0])
            right = int(round(sum(sum(c[0]) for c in scores) / len(scores)))
        else:  # different test sets: pooled
            right, n = int(sum(sum(c[0]) for c in scores)), sum(len(c[0]) for c in scores)
        test = rate(right, n)
        if test is None:
            continue
        # the training accuracy is exact (the whole training set); the test accuracy an estimate
        ests[mode] = Estimate(train - test.effect, train - test.high, train - test.low,
                              "Wilson interval of the test accuracy (train exact)", n)
    if not ests:
        return not_measured()
    weaker = min(ests, key=lambda m: ests[m].low)
    return measure("train / test accuracy: " + "; ".join(
        f"{m} {pct(mean_of(per_seed(records, mode_value(m, 'train_accuracy')).values()))} / "
        f"{pct(mean_of(per_seed(records, mode_value(m, 'test_accuracy')).values()))}" for m in ests)
        + f"; effect = train − test of the mode with the smaller gap ({weaker})", ests[weaker], 0.0, ">",
        unmet=perceptron_learned(records, *ests), digits=4)


def section_perceptron(s: Report) -> str:
    parts = ["## C.2 Multi-class perceptron (experiment `perceptron`)", ""]
    runs = s.records.get("perceptron", [])
    claims = (online_separates, online_fits_better, batch_better_on_test, generalise_below_fit)
    if not runs:
        s.check_quietly(*claims)
        return "\n".join(parts + ["Not measured: the `perceptron` experiment has no runs."])
    parts += ["256 inputs + bias, 10 outputs, the perceptron rule in numpy. Batch: the updates of every "
              "misclassified training digit summed once per epoch; online: an update after every wrong digit, "
              "in a new seeded order each epoch. Training stops early once every training digit is right.", ""]
    table = s.out / "perceptron" / "final_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    parts += ["Reported on the course's data: batch 98.59 % / 88.10 %, online 100 % / 87.20 %.", ""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(c) for c in claims]
    parts += ["", s.figure_links("perceptron")]
    return "\n".join(parts)


SECTIONS = [section_distances, section_perceptron]
