"""STUDY Part B: real or fake faces, answered from the `baselines` runs' records.

Each baseline's learning rate is chosen on the validation split (``chosen_on_validation``), never on the test
split that the claims then compare; two baselines are compared on the same test images (the runs save their
per-example test predictions), so a one-seed comparison has a paired interval.
"""

from __future__ import annotations

import math

from engine.io import read_json
from engine.studies import (MISSING, Estimate, Outcome, Report, Records, claim, fmt, measure, not_measured,
                            paired_examples, rate, status_note, usable)

LABEL = "Part B"
TITLE = f"{LABEL} — Real or fake"
EXPERIMENTS = ["baselines"]

# The baselines' names in the text; kept here so the report reads records only.
MODE_LABELS = {
    "xgboost": "XGBoost (pixels)",
    "scratch": "ResNet18 from scratch",
    "linear_probe": "linear probe",
    "sklearn_probe": "sklearn LogisticRegression probe",
    "finetune": "fine-tuning",
}
PROBES = ("linear_probe", "sklearn_probe")
BEST_PROBE = "best probe"  # the better of the two probes on validation, compared as one baseline
CHANCE = 0.5  # two balanced classes
USES_LR = ("scratch", "linear_probe", "finetune")  # xgboost and the sklearn probe have no learning rate


def _finite(value) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def chosen_on_validation(runs: list[dict]) -> dict | None:
    """The run with the highest validation accuracy (ties: the lower validation loss, then the higher learning
    rate), among runs with a finite validation accuracy; None when there is none. Test numbers play no part."""
    ranked = [r for r in runs if _finite((r.get("final") or {}).get("val_accuracy")) is not None]
    if not ranked:
        return None

    def key(r: dict) -> tuple:
        final = r["final"]
        loss = _finite(final.get("val_loss"))
        return (-final["val_accuracy"], math.inf if loss is None else loss, -r["config"]["optim"].get("lr", 0.0))
    return min(ranked, key=key)


def chosen(records: Records) -> dict[str, dict]:
    """Each baseline's run chosen on validation, and the best probe (the probe chosen on validation)."""
    by_mode: dict[str, list[dict]] = {}
    for r in usable(records, "baselines"):
        by_mode.setdefault(r["config"]["model"]["mode"], []).append(r)
    picks = {m: run for m, runs in by_mode.items() if (run := chosen_on_validation(runs)) is not None}
    probe = chosen_on_validation([picks[m] for m in PROBES if m in picks])
    return picks | ({BEST_PROBE: probe} if probe else {})


def correctness(record: dict) -> dict[str, float] | None:
    """Test image -> 1 if the run classified it correctly, else 0 (a missing probability counts as the
    negative class, as the run's accuracy counts a NaN logit); None when the run saved no predictions."""
    test = (record.get("predictions") or {}).get("test") or {}
    files, labels, probs = test.get("file"), test.get("label"), test.get("prob")
    if not files or labels is None or probs is None or not len(files) == len(labels) == len(probs):
        return None
    return {f: float((p is not None and p > 0.5) == bool(y)) for f, y, p in zip(files, labels, probs)}


def test_accuracy(record: dict) -> float:
    return record["final"].get("test_accuracy", math.nan)


def name(mode: str, record: dict) -> str:
    """"finetune (lr 0.001, test 0.850)"; the best probe names the probe it is."""
    own = record["config"]["model"]["mode"]
    lr = record["config"]["optim"].get("lr") if own in USES_LR else None
    return (f"{mode}{f' = {own}' if own != mode else ''} ({f'lr {lr:g}, ' if lr is not None else ''}"
            f"test {fmt(test_accuracy(record))})")


def paired(records: Records, a: str, b: str) -> tuple[Estimate | None, str]:
    """Test accuracy of ``a`` − ``b`` (each chosen on validation), paired over the same test images."""
    picks = chosen(records)
    if a not in picks or b not in picks:
        return None, ""
    ca, cb = correctness(picks[a]), correctness(picks[b])
    text = f"test accuracy {name(a, picks[a])} − {name(b, picks[b])}, learning rates chosen on validation"
    if ca is None or cb is None:
        return None, text + "; a run saved no per-example test predictions"
    if set(ca) != set(cb):
        return None, text + "; the two runs were tested on different images"
    files = sorted(ca)
    return paired_examples([ca[f] for f in files], [cb[f] for f in files]), text


def paired_claim(records: Records, a: str, b: str) -> Outcome:
    est, text = paired(records, a, b)
    if est is None:
        return not_measured(text or MISSING)
    return measure(text, est, 0.0, ">")


def above(record: dict, bar: float) -> bool:
    """Better than ``bar`` beyond doubt: the Wilson interval of the run's test accuracy lies above it."""
    k = correctness(record)
    if k is None:
        return False
    est = rate(int(sum(k.values())), len(k))
    return est is not None and est.low > bar


@claim("B.1", "fine-tuning beats linear probing", course="fine-tune 0.76–0.87 vs linear probe 0.71–0.73",
       experiments=("baselines",))
def finetune_beats_probe(records: Records) -> Outcome:
    return paired_claim(records, "finetune", "linear_probe")


@claim("B.1", "linear probing beats training from scratch",
       course="linear probe 0.71–0.73, sklearn probe 0.73 vs scratch 0.52–0.57", experiments=("baselines",))
def probe_beats_scratch(records: Records) -> Outcome:
    return paired_claim(records, BEST_PROBE, "scratch")


@claim("B.1", "XGBoost on pixels is within 0.05 of the linear probes", course="XGBoost 0.73 vs probes 0.71–0.73",
       experiments=("baselines",))
def xgboost_near_probes(records: Records) -> Outcome:
    """Effect: |test accuracy of XGBoost − the best probe| (< 0.05), its interval the absolute values over the
    paired interval of the difference; the probe must be above chance (two untrained models tie too)."""
    est, text = paired(records, "xgboost", BEST_PROBE)
    if est is None:
        return not_measured(text or MISSING)
    low, high = est.interval
    dist = Estimate(abs(est.effect), 0.0 if low <= 0 <= high else min(abs(low), abs(high)),
                    max(abs(low), abs(high)), f"|difference|, {est.statistic}", est.n)
    probe = chosen(records)[BEST_PROBE]
    return measure(f"|{text}| (difference {fmt(est.effect)} [{fmt(low)}, {fmt(high)}])", dist, 0.05, "<",
                   unmet=None if above(probe, CHANCE) else "the best probe is not above chance (0.5): nothing "
                                                          "to be near")


@claim("B.1", "ResNet18 from scratch stays near chance after one epoch (below 0.60)",
       course="scratch 0.52–0.57", experiments=("baselines",))
def scratch_near_chance(records: Records) -> Outcome:
    """Effect: the scratch run's test accuracy (chosen on validation; Wilson interval over the test images) below
    0.60, while another baseline is above 0.60 beyond doubt (else the data, not scratch, is at chance)."""
    picks = chosen(records)
    scratch = picks.get("scratch")
    if scratch is None:
        return not_measured()
    k = correctness(scratch)
    if k is None:
        return not_measured("the scratch run saved no per-example test predictions")
    others = [m for m, r in picks.items() if m not in ("scratch", BEST_PROBE) and above(r, 0.60)]
    return measure(f"test accuracy of {name('scratch', scratch)}, learning rate chosen on validation",
                   rate(int(sum(k.values())), len(k)), 0.60, "<",
                   unmet=None if others else "no other baseline is above 0.60 either: the data, not scratch, "
                                             "is at chance")


def section_baselines(s: Report) -> str:
    parts = ["## B.1 Baselines over learning rates", ""]
    runs = s.records.get("baselines", [])
    if not runs:
        s.check_quietly(finetune_beats_probe, probe_beats_scratch, xgboost_near_probes, scratch_near_chance)
        return "\n".join(parts + ["Not measured: the `baselines` experiment has no runs."])
    sources = sorted({(r.get("data") or {}).get("source", "") for r in runs})
    weights = sorted({r["weights"]["label"] for r in runs if r.get("weights")})
    parts += ["Data: " + "; ".join(sources) + ".", "",
              "Pretrained weights: " + ("; ".join(weights) if weights else "none used") + ".", ""]
    table = s.out / "baselines" / "lr_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    picks = {m: r for m, r in chosen(s.records).items() if m != BEST_PROBE}
    parts += ["The table ranks learning rates by test accuracy, as STUDY asks; a best-of-sweep test number is "
              "optimistic, so the comparisons below use each baseline's learning rate chosen on validation "
              "accuracy (ties: the lower validation loss) and pair the two runs' predictions on the same test "
              "images.", "",
              "Chosen on validation: "
              + ", ".join(f"{MODE_LABELS.get(m, m)} "
                          + (f"lr {r['config']['optim']['lr']:g}, " if m in USES_LR else "")
                          + f"val {fmt(r['final'].get('val_accuracy'))}, test {fmt(test_accuracy(r))}"
                          for m, r in picks.items())
              + " (reported test accuracy: XGBoost 0.73; scratch 0.52–0.57; linear probe 0.71–0.73; sklearn probe "
              "0.73; fine-tune 0.76–0.87).", ""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(finetune_beats_probe), s.check(probe_beats_scratch), s.check(xgboost_near_probes),
              s.check(scratch_near_chance)]
    if any(w.startswith("self-pretrained") for w in weights) or any("STAND-IN" in x for x in sources):
        parts += ["", "*Caveat: these checks ran on the embedded stand-in images and/or self-pretrained (not "
                  "ImageNet) weights; they test the bench's pipeline, not the faces study itself.*"]
    parts += ["", s.figure_links("baselines").replace("![baselines: gallery.png](baselines/gallery.png)", "")]
    return "\n".join(parts)


def section_gallery(s: Report) -> str:
    parts = ["## B.2 Gallery", ""]
    gallery = read_json(s.out / "baselines" / "gallery.json")
    if not isinstance(gallery, dict) or "images" not in gallery:
        return "\n".join(parts + ["Not measured: no gallery (it needs finished fine-tuning and scratch runs)."])
    better, worse = gallery["better"], gallery["worse"]
    parts.append(f"{len(gallery['images'])} test images are classified correctly by the {better['mode']} run "
                 f"chosen on validation ({better['run']}, test accuracy {fmt(better['test_accuracy'])}) and wrongly by "
                 f"the one chosen for "
                 f"{worse['mode']} run ({worse['run']}, {fmt(worse['test_accuracy'])}). The first five, with "
                 f"P({gallery.get('probabilities_are_of')}):")
    parts += ["", "| file | true label | " + better["mode"] + " | " + worse["mode"] + " |", "|---|---|---|---|"]
    for row in gallery["images"][:5]:
        parts.append(f"| {row['file']} | {row['true_class']} | {fmt(row['better_prob'], 2)} | {fmt(row['worse_prob'], 2)} |")
    if (s.out / "baselines" / "gallery.png").is_file():
        parts += ["", "![gallery](baselines/gallery.png)"]
    return "\n".join(parts)


SECTIONS = [section_baselines, section_gallery]
