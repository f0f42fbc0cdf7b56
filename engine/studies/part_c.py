"""STUDY Part C, labs 1-2: distances on digits and a perceptron, answered
from the `digits` and `perceptron` runs' records (lab 3, XOR:
``part_c_lab3``).

Every claim reads its settings (spaces, modes) from
the records; the course's reported numbers are quoted beside the measured
ones, never used as thresholds.
"""

from __future__ import annotations

from engine.studies import Outcome, Report, Records, claim, judge, status_note, usable

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


@claim("C.1", "k-NN beats the nearest centre on test (256-d pixels)")
def knn_beats_centre(records: Records) -> Outcome:
    run = digit_runs(records).get("256d")
    knn, centre = accuracy(run, "test", "knn"), accuracy(run, "test", "centre")
    if knn is None or centre is None:
        return judge(None, None)
    k = run["config"]["model"]["k"]
    return judge(f"test accuracy: {k}-NN {pct(knn)}, nearest centre {pct(centre)}", knn > centre)


@claim("C.1", "a 2-D PCA loses accuracy against the 256-d pixels (both classifiers, test)")
def pca_loses(records: Records) -> Outcome:
    runs = digit_runs(records)
    full, pca = runs.get("256d"), runs.get("pca")
    values = {c: (accuracy(full, "test", c), accuracy(pca, "test", c)) for c in ("centre", "knn")}
    if any(v is None for pair in values.values() for v in pair):
        return judge(None, None)
    return judge("test accuracy 256-d → PCA: " + ", ".join(
        f"{'nearest centre' if c == 'centre' else 'k-NN'} {pct(a)} → {pct(b)}" for c, (a, b) in values.items()),
        all(b < a for a, b in values.values()))


@claim("C.1", "k-NN in a non-linear 2-D embedding (t-SNE or UMAP) stays within 5 points of 256-d on test")
def nonlinear_embedding_keeps(records: Records) -> Outcome:
    runs = digit_runs(records)
    full = accuracy(runs.get("256d"), "test", "knn")
    found = {s: accuracy(runs.get(s), "test", "knn") for s in ("tsne", "umap") if s in runs}
    if full is None or not found:
        return judge(None, None)
    best_space = max(found, key=lambda s: found[s])
    return judge(f"k-NN test accuracy: 256-d {pct(full)}, "
                 + ", ".join(f"{s} {pct(v)}" for s, v in found.items()), found[best_space] >= full - 0.05)


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


@claim("C.2", "online updates reach 100 % training accuracy")
def online_separates(records: Records) -> Outcome:
    run = perceptron_runs(records).get("online")
    if run is None:
        return judge(None, None)
    epochs = (run.get("history") or {}).get("epoch") or [0]
    return judge(f"online: train accuracy {pct(run['final']['train_accuracy'])} after {epochs[-1]} epochs "
                 f"(of at most {run['config']['optim']['epochs']})", run["final"]["train_accuracy"] == 1.0)


@claim("C.2", "online updates fit the training set better than batch, but do not generalise better")
def online_not_better_on_test(records: Records) -> Outcome:
    runs = perceptron_runs(records)
    if "batch" not in runs or "online" not in runs:
        return judge(None, None)
    b, o = runs["batch"]["final"], runs["online"]["final"]
    return judge(f"train: online {pct(o['train_accuracy'])} vs batch {pct(b['train_accuracy'])}; test: online "
                 f"{pct(o['test_accuracy'])} vs batch {pct(b['test_accuracy'])}",
                 o["train_accuracy"] >= b["train_accuracy"] and o["test_accuracy"] <= b["test_accuracy"])


@claim("C.2", "both schedules generalise worse than they fit: test accuracy below train accuracy")
def generalise_below_fit(records: Records) -> Outcome:
    runs = perceptron_runs(records)
    if not runs:
        return judge(None, None)
    return judge("; ".join(f"{m}: train {pct(r['final']['train_accuracy'])}, test {pct(r['final']['test_accuracy'])}"
                           for m, r in runs.items()),
                 all(r["final"]["test_accuracy"] < r["final"]["train_accuracy"] for r in runs.values()))


def section_perceptron(s: Report) -> str:
    parts = ["## C.2 Multi-class perceptron (experiment `perceptron`)", ""]
    runs = s.records.get("perceptron", [])
    claims = (online_separates, online_not_better_on_test, generalise_below_fit)
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
