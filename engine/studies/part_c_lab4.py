"""STUDY Part C, lab 4: an MLP vs a CNN on Fashion-MNIST and CIFAR-10,
answered from the `mlp_vs_cnn` runs' records.

The course's reported test accuracies (Fashion-MNIST MLP 0.85, CNN 0.22;
CIFAR-10 MLP 0.38, CNN 0.54) are quoted beside the measured ones; they set
the "learns" bar (halfway from chance to the course's figure) and the MLP's
0.80. The course's CNN at 0.22 on Fashion-MNIST, far below its own MLP and
its own CNN on the harder CIFAR-10, looks like a bug in their code (a CNN on
Fashion-MNIST usually reaches about 0.9): it is judged as the course's claim
("the CNN falls below the MLP"), which does not reproduce with a working
CNN, beside the bench's own check that the CNN is not below. CNN vs MLP is a
paired bootstrap over the same test images (the runs keep their
predictions). Runs on a stand-in are named as such in every sentence.
"""

from __future__ import annotations

from engine.studies import (BENCH, COURSE, Outcome, Report, Records, claim, fmt, is_standin, measure, not_measured,
                            per_seed, rate, status_note, usable)
from engine.studies.paired import correct, learn_bar, mean_of, paired_over_seeds

LABEL = "Part C"
TITLE = f"{LABEL} — lab 4: MLP vs CNN"
EXPERIMENTS = ["mlp_vs_cnn"]
EXPERIMENT = "mlp_vs_cnn"
REPORTED = {("fashion_mnist", "mlp"): 0.85, ("fashion_mnist", "cnn"): 0.22,
            ("cifar10", "mlp"): 0.38, ("cifar10", "cnn"): 0.54}
NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
TOLERANCE = 0.01  # "does not fall below": at most one point under


def lab_runs(records: Records) -> dict[tuple[str, str], dict]:
    """The first usable run of each (dataset, arch)."""
    runs: dict[tuple[str, str], dict] = {}
    for r in usable(records, EXPERIMENT):
        runs.setdefault((r["config"]["data"]["dataset"], r["config"]["model"]["arch"]), r)
    return runs


def test_accuracy(run: dict | None) -> float | None:
    return None if run is None else run["final"].get("test_accuracy")


def data_name(runs: list[dict], dataset: str) -> str:
    """'CIFAR-10', or 'CIFAR-10 (stand-in)' when any of the runs read the stand-in."""
    standin = any(is_standin(r) for r in runs if r)
    return NAMES.get(dataset, dataset) + (" (stand-in)" if standin else "")


def pair(records: Records, dataset: str) -> tuple[dict | None, dict | None]:
    runs = lab_runs(records)
    return runs.get((dataset, "mlp")), runs.get((dataset, "cnn"))


CHANCE = 0.1  # ten classes in both datasets


def mean_accuracy(records: Records, dataset: str, arch: str) -> float | None:
    return mean_of(per_seed(records, lambda r: test_accuracy(lab_runs(r).get((dataset, arch)))).values())


def not_learned(records: Records, dataset: str, *archs: str, course: float | None = None) -> str | None:
    """Why a model fails the "learns" bar (halfway from chance to the course's figure), or None."""
    for arch in archs:
        acc = mean_accuracy(records, dataset, arch)
        target = course if course is not None else REPORTED[(dataset, arch)]
        bar = learn_bar(CHANCE, target)
        if acc is not None and acc < bar:
            return (f"nothing learned: the {arch.upper()} reaches {acc:.3f} on test, below the bar {bar:.3f} "
                    f"(halfway from chance {CHANCE:.2f} to {target:.2f})")
    return None


def cnn_minus_mlp(records: Records, dataset: str):
    """Per test image: CNN right − MLP right, every seed (see engine.studies.paired)."""
    def one(r: Records):
        mlp, cnn = pair(r, dataset)
        a, b = correct(cnn, EXPERIMENT), correct(mlp, EXPERIMENT)
        return None if a is None or b is None or a[1] != b[1] else (a[0], b[0], a[1])
    return paired_over_seeds(records, one)


def accuracies_text(records: Records, dataset: str) -> str:
    mlp, cnn = pair(records, dataset)
    return (f"test accuracy on {data_name([mlp, cnn], dataset)}: CNN {fmt(mean_accuracy(records, dataset, 'cnn'))}, "
            f"MLP {fmt(mean_accuracy(records, dataset, 'mlp'))}")


@claim("C.4", "on CIFAR-10 the CNN beats the MLP on test", source=COURSE, course="CNN 0.54, MLP 0.38 (test)",
       experiments=(EXPERIMENT,))
def cnn_beats_mlp_on_cifar(records: Records) -> Outcome:
    est = cnn_minus_mlp(records, "cifar10")
    if est is None:
        return not_measured()
    return measure(accuracies_text(records, "cifar10") + "; effect = CNN − MLP", est, 0.0, ">",
                   unmet=not_learned(records, "cifar10", "cnn"))


@claim("C.4", "on Fashion-MNIST the MLP reaches at least 0.80 test accuracy", source=COURSE,
       course="MLP 0.85 (test)", experiments=(EXPERIMENT,))
def mlp_reaches_on_fashion(records: Records) -> Outcome:
    scores = [c for c in per_seed(records, lambda r: correct(pair(r, "fashion_mnist")[0], EXPERIMENT)).values()
              if c is not None]
    if not scores:
        return not_measured()
    n = len(scores[0][0]) if all(c[1] == scores[0][1] for c in scores) else sum(len(c[0]) for c in scores)
    right = sum(sum(c[0]) for c in scores) * (n / sum(len(c[0]) for c in scores))
    est = rate(int(round(right)), n)
    mlp, _ = pair(records, "fashion_mnist")
    return measure(f"MLP test accuracy on {data_name([mlp], 'fashion_mnist')}: "
                   f"{fmt(mean_accuracy(records, 'fashion_mnist', 'mlp'))}", est, 0.80, ">")


@claim("C.4", "on Fashion-MNIST the CNN falls below the MLP on test (the course's anomaly)", source=COURSE,
       course="CNN 0.22, MLP 0.85 (test)", experiments=(EXPERIMENT,))
def cnn_below_mlp_on_fashion(records: Records) -> Outcome:
    est = cnn_minus_mlp(records, "fashion_mnist")
    if est is None:
        return not_measured()
    cnn = mean_accuracy(records, "fashion_mnist", "cnn")
    unmet = not_learned(records, "fashion_mnist", "mlp")
    if unmet is None and cnn is not None and cnn <= CHANCE + 0.02:  # the course's CNN (0.22) is above chance
        unmet = f"the CNN is at chance ({cnn:.3f}): a model that learned nothing, not the course's CNN"
    return measure(accuracies_text(records, "fashion_mnist") + "; effect = CNN − MLP", est, 0.0, "<", unmet=unmet)


@claim("C.4", f"on Fashion-MNIST the CNN does not fall below the MLP on test (at most {TOLERANCE:g} under)",
       source=BENCH, experiments=(EXPERIMENT,))
def cnn_not_below_on_fashion(records: Records) -> Outcome:
    est = cnn_minus_mlp(records, "fashion_mnist")
    if est is None:
        return not_measured()
    # both must learn; the CNN's bar uses the MLP's course figure (the course's CNN figure is the anomaly)
    unmet = not_learned(records, "fashion_mnist", "mlp", "cnn", course=REPORTED[("fashion_mnist", "mlp")])
    return measure(accuracies_text(records, "fashion_mnist") + "; effect = CNN − MLP", est, -TOLERANCE, ">",
                   unmet=unmet)


CLAIMS = (cnn_beats_mlp_on_cifar, mlp_reaches_on_fashion, cnn_below_mlp_on_fashion, cnn_not_below_on_fashion)


def section_mlp_vs_cnn(s: Report) -> str:
    parts = [f"## C.4 MLP vs CNN (experiment `{EXPERIMENT}`)", ""]
    runs = s.records.get(EXPERIMENT, [])
    if not runs:
        s.check_quietly(*CLAIMS)
        return "\n".join(parts + [f"Not measured: the `{EXPERIMENT}` experiment has no runs."])
    sources = sorted({f"{NAMES.get(r['config']['data']['dataset'], r['config']['data']['dataset'])}: "
                      f"{(r.get('data') or {}).get('source', '?')}" for r in runs})
    parts += ["Data: " + "; ".join(sources) + ".", ""]
    model = runs[0]["config"]["model"]
    optim = runs[0]["config"]["optim"]
    parts += [f"The MLP: the image flattened, hidden layers of {', '.join(map(str, model['hidden']))} units (ReLU). "
              f"The CNN: 3x3 convolutions with {', '.join(map(str, model['channels']))} channels, each followed by "
              f"ReLU and 2x2 max pooling, then a dense layer of {model['dense']} units and the output layer. Both: "
              f"Adam (lr {optim['lr']:g}), cross-entropy, batch size {optim['batch_size']}, {optim['epochs']} epochs; "
              "pixels standardised per channel with the training split's statistics; the validation split is "
              "carved from the training images with the data seed.", ""]
    table = s.out / EXPERIMENT / "accuracy_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    measured = lab_runs(s.records)
    quoted = []
    for (dataset, arch), reported in REPORTED.items():
        value = test_accuracy(measured.get((dataset, arch)))
        if value is not None:
            quoted.append(f"{NAMES[dataset]} {arch.upper()}: reported {reported:.2f}, measured {value:.3f}"
                          f"{' on the stand-in' if data_name([measured[(dataset, arch)]], dataset).endswith('(stand-in)') else ''}")
    if quoted:
        parts += ["Test accuracy, the course's against the bench's: " + "; ".join(quoted) + ".", ""]
    if any(data_name([r], r["config"]["data"]["dataset"]).endswith("(stand-in)") for r in runs):
        parts += ["Accuracies measured on a stand-in are not comparable with the course's (drawn shapes, not "
                  "clothes or photographs); what carries over is the comparison between the two models.", ""]
    parts += ["The course's CNN on Fashion-MNIST (0.22) is far below its own MLP (0.85) and below its own CNN on "
              "the harder CIFAR-10 (0.54): it looks like a bug in the course's code, not a property of CNNs; the "
              "bench reports what it measures.", ""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(c) for c in CLAIMS]
    parts += ["", s.figure_links(EXPERIMENT)]
    return "\n".join(parts)


SECTIONS = [section_mlp_vs_cnn]
