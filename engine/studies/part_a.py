"""STUDY Part A: MLPs on European cities, answered from the runs' records.

Settings (learning rates, epochs, depth and width, the last layer) are read
from the records; where STUDY names values (lr 1 and 1e-5), they are taken
by rank among the rates that ran, and the text says which ones.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

from engine.studies import (BENCH, MISSING, Estimate, Outcome, Report, Records, claim, find, fmt, hist, measure,
                            not_measured, over_seeds, per_seed, select, status_note, usable)

LABEL = "Part A"
TITLE = f"{LABEL} — MLPs on European cities"
EXPERIMENTS = ["lr", "epochs", "batch_size", "batch_size_batchnorm", "depth_width", "gradients", "sine"]

# The course's epochs per experiment (STUDY: 50 by default, 100 for A.1.2, 10 for the gradients): a claim judged
# on fewer says so, or is not measured where the budget decides it.
COURSE_EPOCHS = {"lr": 50, "epochs": 100, "gradients": 10, "sine": 50}
LEARNED = 0.5  # "learned": the final validation loss is at most half the untrained (epoch-0) one


def final_val_loss(record: dict) -> float:
    """The last validation loss; infinite when it is not finite, so it ranks last."""
    value = hist(record, "val_loss")[-1]
    return value if math.isfinite(value) else math.inf


def learned(record: dict) -> bool:
    """The run's validation loss fell to at most ``LEARNED`` times its untrained value (a prior's loss does not)."""
    val = hist(record, "val_loss")
    return len(val) > 1 and math.isfinite(val[0]) and final_val_loss(record) <= LEARNED * val[0]


def seeds(records: Records, value: Callable[[Records], Any]) -> list[Any]:
    """``value`` on each seed's runs, the seeds where it is None left out."""
    return [v for v in per_seed(records, value).values() if v is not None]


def epochs_of(records: Records, experiment: str) -> int | None:
    runs = usable(records, experiment)
    return min(r["config"]["optim"]["epochs"] for r in runs) if runs else None


def budget_note(records: Records, experiment: str) -> str:
    """'; at 20 epochs where the course trained 50' when the runs had fewer epochs than the course, else ''."""
    epochs, course = epochs_of(records, experiment), COURSE_EPOCHS[experiment]
    return f"; judged at {epochs} epochs where the course trained {course}" if epochs and epochs < course else ""


def unmet_seeds(failed: list[str], what: str) -> str | None:
    """The precondition's failure in words (None when every seed met it)."""
    return f"{what} ({', '.join(failed)})" if failed else None


# ------------------------------------------------------------------ A.1.1 learning rate
def lr_runs(records: Records, batchnorm: bool = False) -> dict[float, dict]:
    """The `lr` experiment's finished runs by learning rate, highest first (one seed's records)."""
    runs: dict[float, dict] = {}
    for r in select(records, "lr", batchnorm=batchnorm):
        runs.setdefault(r["config"]["optim"]["lr"], r)
    return dict(sorted(runs.items(), reverse=True))


def num_classes(record: dict) -> int | None:
    names = (record.get("data") or {}).get("class_names")
    return len(names) if names else None


def seed_of(runs: dict) -> str:
    first = next(iter(runs.values()))
    return f"seed {first.get('seed', '?')}"


@claim("A.1.1", "too high a learning rate (1) fails to learn",
       course="lr = 1 sits flat near chance loss (ln 27 ≈ 3.3)", experiments=("lr",))
def high_lr_fails(records: Records) -> Outcome:
    """The highest rate keeps more than half of the loss that the best other rate sheds from the untrained loss.

    share = (loss(highest) − loss(best other)) / (untrained loss − loss(best other)), capped at 1 (a loss above
    the untrained one, or not finite); compared with the good rates, so a prior's loss (2.8 of 3.3) that a good
    rate beats by far counts as failing, and a bench where no rate learned proves nothing (precondition).
    """
    def one(rs: Records) -> dict | None:
        runs = lr_runs(rs)
        if len(runs) < 2:
            return None
        (lr, high), others = next(iter(runs.items())), dict(list(runs.items())[1:])
        best_lr = min(others, key=lambda x: final_val_loss(others[x]))
        best = others[best_lr]
        start, low, top = hist(best, "val_loss")[0], final_val_loss(best), final_val_loss(high)
        shed = start - low
        share = 1.0 if not math.isfinite(top) or shed <= 0 else min(1.0, (top - low) / shed)
        return {"lr": lr, "best_lr": best_lr, "share": share, "learned": learned(best), "seed": high.get("seed"),
                "text": f"lr = {lr:g}: final val loss {fmt(top)} vs {fmt(low)} for lr = {best_lr:g} (untrained "
                        f"{fmt(start)})"}

    per = seeds(records, one)
    if not per:
        return not_measured()
    failed = [f"seed {p['seed']}: lr = {p['best_lr']:g} ends at a loss above {LEARNED:g}x the untrained one"
              for p in per if not p["learned"]]
    return measure(f"share of the best other rate's loss drop that lr = {per[0]['lr']:g} fails to make (1 = none "
                   f"of it); {per[0]['text']} (seed {per[0]['seed']}){budget_note(records, 'lr')}",
                   over_seeds([p["share"] for p in per]), 0.5, ">",
                   unmet=unmet_seeds(failed, "no other learning rate learned, so failing says nothing"))


@claim("A.1.1", "a learning rate of 1e-5 descends very slowly", course="1e-5 descends very slowly",
       experiments=("lr",))
def low_lr_slow(records: Records) -> Outcome:
    """The lowest rate's drop of the validation loss over the run is under a fifth of the best rate's drop.

    Precondition: a loss that fell: the lowest rate lowered its loss by at least 1 % in every seed, and the best
    rate learned (otherwise "slow" cannot be told from "not training" or "nothing learns").
    """
    def one(rs: Records) -> dict | None:
        runs = lr_runs(rs)
        if len(runs) < 2:
            return None
        drops = {lr: hist(r, "val_loss")[0] - final_val_loss(r) for lr, r in runs.items()}
        low = min(runs)
        best_lr = max((lr for lr in runs if lr != low), key=lambda lr: drops[lr])
        start = hist(runs[low], "val_loss")[0]
        return {"lr": low, "ratio": drops[low] / drops[best_lr] if drops[best_lr] > 0 else math.nan,
                "fell": drops[low] >= 0.01 * start, "learned": learned(runs[best_lr]), "seed": runs[low].get("seed"),
                "text": f"lr = {low:g} lowers the val loss by {fmt(drops[low])} over "
                        f"{len(hist(runs[low], 'val_loss')) - 1} epochs; lr = {best_lr:g} by {fmt(drops[best_lr])}"}

    per = seeds(records, one)
    if not per:
        return not_measured()
    failed = [f"seed {p['seed']}: " + ("its loss did not fall by 1 %" if not p["fell"] else
                                       "the best rate did not learn") for p in per if not (p["fell"] and p["learned"])]
    return measure(f"the lowest rate's loss drop / the best rate's; {per[0]['text']} (seed {per[0]['seed']})"
                   f"{budget_note(records, 'lr')}", over_seeds([p["ratio"] for p in per]), 0.2, "<",
                   unmet=unmet_seeds(failed, "not slow but not descending"))


@claim("A.1.1", "1e-2 and 1e-3 are the best learning rates", course="1e-2 and 1e-3 are best", experiments=("lr",))
def middle_lrs_best(records: Records) -> Outcome:
    """STUDY's 1e-2 and 1e-3 are the second and third highest of its rates: both end with a lower validation loss
    than every other rate (effect: the other rates' lowest final loss − the pair's highest), and both learned."""
    def one(rs: Records) -> dict | None:
        runs = lr_runs(rs)
        if len(runs) < 4:  # fewer, and the pair would include the highest or lowest rate
            return None
        pair = list(runs)[1:3]
        others = [lr for lr in runs if lr not in pair]
        ranked = sorted(runs, key=lambda lr: final_val_loss(runs[lr]))
        gap = min(final_val_loss(runs[lr]) for lr in others) - max(final_val_loss(runs[lr]) for lr in pair)
        return {"pair": pair, "gap": gap, "learned": all(learned(runs[lr]) for lr in pair),
                "seed": runs[pair[0]].get("seed"),
                "text": "ranked by final validation loss: " + ", ".join(f"{lr:g}" for lr in ranked)}

    per = seeds(records, one)
    if not per:
        return not_measured("needs at least four learning rates; " + MISSING)
    pair = per[0]["pair"]
    failed = [f"seed {p['seed']}" for p in per if not p["learned"]]
    return measure(f"the other rates' lowest final val loss − the worse of {pair[0]:g} and {pair[1]:g} (the second "
                   f"and third highest); {per[0]['text']} (seed {per[0]['seed']}){budget_note(records, 'lr')}",
                   over_seeds([p["gap"] for p in per]), 0.0, ">",
                   unmet=unmet_seeds(failed, f"{pair[0]:g} or {pair[1]:g} did not learn (a tie of untrained rates "
                                             f"is no best)"))


def section_lr(s: Report) -> str:
    parts = ["## A.1.1 Learning rate", ""]
    runs = lr_runs(s.records)
    if not runs:
        parts.append("Not measured: the `lr` experiment has no finished runs.")
        s.check_quietly(high_lr_fails, low_lr_slow, middle_lrs_best)
        return "\n".join(parts)
    parts += ["| learning rate | final val loss | lowest val loss | final val accuracy |", "|---|---|---|---|"]
    for lr, r in runs.items():
        parts.append(f"| {lr:g} | {fmt(hist(r, 'val_loss')[-1])} | {fmt(min(hist(r, 'val_loss')))} | "
                     f"{fmt(r['final']['val_accuracy'])}{status_note(r)} |")
    parts.append("")
    lr, high = next(iter(runs.items()))
    k = num_classes(high)
    if k:
        parts.append(f"With lr = {lr:g} the validation loss ends at {fmt(hist(high, 'val_loss')[-1])}, next to chance "
                     f"level ln({k}) = {fmt(math.log(k))}; its validation accuracy is "
                     f"{fmt(high['final']['val_accuracy'])}.")
    parts += ["", s.check(high_lr_fails), s.check(low_lr_slow), s.check(middle_lrs_best), "", s.figure_links("lr")]
    return "\n".join(parts)


# ------------------------------------------------------------------ A.1.2 epochs
EARLY = 20  # STUDY: "most of the drop in the first ~20 epochs"
OVERFIT = 80  # STUDY: "overfitting signs around epoch 80"; "around" is taken as within 20 epochs


def best_epoch(val: list[float]) -> int:
    return min(range(len(val)), key=lambda i: val[i] if math.isfinite(val[i]) else math.inf)


def epochs_runs(records: Records, minimum: int) -> tuple[list[dict] | None, str]:
    """The `epochs` experiment's runs without BatchNorm, one per seed, or None and why (too few epochs)."""
    runs = select(records, "epochs", batchnorm=False)
    if not runs:
        return None, ""
    short = [r for r in runs if len(hist(r, "val_loss")) - 1 < minimum]
    if short:
        return None, f"the run has {len(hist(short[0], 'val_loss')) - 1} epochs, fewer than {minimum}"
    return runs, ""


@claim("A.1.2", "most of the loss drop happens in the first ~20 epochs",
       course="most of the drop in the first ~20 epochs", experiments=("epochs",))
def early_drop(records: Records) -> Outcome:
    """More than half of the drop to the lowest validation loss is done by epoch 20, in a run that learned."""
    runs, why = epochs_runs(records, EARLY + 1)
    if runs is None:
        return not_measured(why or MISSING)
    fracs, failed = [], []
    for r in runs:
        val = hist(r, "val_loss")
        total = val[0] - val[best_epoch(val)]
        fracs.append((val[0] - val[EARLY]) / total if total > 0 else math.nan)
        if not learned(r):
            failed.append(f"seed {r.get('seed')}")
    return measure(f"share of the drop to the lowest validation loss done by epoch {EARLY}",
                   over_seeds(fracs), 0.5, ">",
                   unmet=unmet_seeds(failed, f"the loss never fell to {LEARNED:g}x its untrained value"))


@claim("A.1.2", "signs of overfitting appear around epoch 80", course="overfitting signs around epoch 80",
       experiments=("epochs",))
def overfits_late(records: Records) -> Outcome:
    """The validation loss bottoms out around epoch 80, then rises: effect |epoch of the lowest loss − 80| (< 20).

    A seed whose validation loss does not rise again (by over 1 %, with the validation − train gap widening) after
    its lowest point shows no overfitting within the run: it counts as overfitting at the run's end at the
    earliest. Precondition: the run learned (a flat, untrained loss has its minimum anywhere).
    """
    runs, why = epochs_runs(records, OVERFIT)
    if runs is None:
        return not_measured(why or MISSING)
    distances, failed, texts = [], [], []
    for r in runs:
        val, train = hist(r, "val_loss"), hist(r, "train_loss")
        best, end = best_epoch(val), len(val) - 1
        rises = val[-1] > val[best] * 1.01 and val[-1] - train[-1] > val[best] - train[best]
        distances.append(abs(best - OVERFIT) if rises else max(abs(best - OVERFIT), end - OVERFIT))
        texts.append(f"{best}" + ("" if rises else " (no rise after it)"))
        if not learned(r):
            failed.append(f"seed {r.get('seed')}")
    return measure(f"|epoch of the lowest validation loss − {OVERFIT}| (lowest at epochs {', '.join(texts)} of "
                   f"{len(hist(runs[0], 'val_loss')) - 1}; a seed with no rise after it counts at the run's end)",
                   over_seeds(distances), 20, "<", digits=1,
                   unmet=unmet_seeds(failed, f"the loss never fell to {LEARNED:g}x its untrained value"))


def section_epochs(s: Report) -> str:
    parts = ["## A.1.2 Epochs", ""]
    r = s.find("epochs", batchnorm=False)
    if not r:
        parts.append("Not measured: the `epochs` experiment has no finished run without BatchNorm.")
        s.check_quietly(early_drop, overfits_late)
        return "\n".join(parts)
    val, train, test = hist(r, "val_loss"), hist(r, "train_loss"), hist(r, "test_loss")
    best = best_epoch(val)
    parts.append(f"Over {len(val) - 1} epochs the loss goes from {fmt(val[0])} (untrained) to train {fmt(train[-1])}, "
                 f"validation {fmt(val[-1])} and test {fmt(test[-1])}. The validation loss is lowest at epoch "
                 f"{best} ({fmt(val[best])}).")
    parts += ["", s.check(early_drop), s.check(overfits_late), "", s.figure_links("epochs")]
    return "\n".join(parts)


# ------------------------------------------------------------------ A.1.3 BatchNorm
def epochs_to(values: list[float], threshold: float) -> int | None:
    return next((epoch for epoch, v in enumerate(values) if v >= threshold), None)


def roughness(values: list[float]) -> float:
    """Mean absolute second difference of log10 values: 0 for a straight descent on a log scale."""
    logs = [math.log10(v) for v in values if v and v > 0 and math.isfinite(v)]
    if len(logs) < 3:
        return float("nan")
    second = [abs(logs[i + 1] - 2 * logs[i] + logs[i - 1]) for i in range(1, len(logs) - 1)]
    return sum(second) / len(second)


def bn_pairs(records: Records) -> list[tuple[dict, dict]]:
    """(without, with BatchNorm) runs of the `epochs` experiment, one pair per seed."""
    def one(rs: Records) -> tuple[dict, dict] | None:
        plain, norm = find(rs, "epochs", batchnorm=False), find(rs, "epochs", batchnorm=True)
        return (plain, norm) if plain and norm else None
    return seeds(records, one)


def not_learned(pairs: list[tuple[dict, ...]]) -> list[str]:
    return [f"seed {runs[0].get('seed')}" for runs in pairs if not all(learned(r) for r in runs)]


@claim("A.1.3", "BatchNorm converges in fewer epochs", course="converges faster", experiments=("epochs",))
def batchnorm_faster(records: Records) -> Outcome:
    """Effect: epochs to reach 90 % of the lower final validation accuracy, without − with BatchNorm (> 0)."""
    pairs = bn_pairs(records)
    if not pairs:
        return not_measured()
    diffs, texts = [], []
    for plain, norm in pairs:
        acc_p, acc_n = hist(plain, "val_accuracy"), hist(norm, "val_accuracy")
        threshold = 0.9 * min(acc_p[-1], acc_n[-1])
        e_p, e_n = epochs_to(acc_p, threshold), epochs_to(acc_n, threshold)
        diffs.append(math.nan if e_p is None or e_n is None else e_p - e_n)
        texts.append(f"{e_n} with BatchNorm and {e_p} without")
    optim = pairs[0][0]["config"]["optim"]
    return measure(f"epochs to 90 % of the lower final validation accuracy, without − with BatchNorm "
                   f"({optim['epochs']}-epoch runs, lr {optim['lr']:g}; seed {pairs[0][0].get('seed')}: reached at "
                   f"epoch {texts[0]})", over_seeds(diffs), 0.0, ">", digits=1,
                   unmet=unmet_seeds(not_learned(pairs), "a run that did not learn"))


@claim("A.1.3", "BatchNorm training curves are smoother", course="smoother", experiments=("epochs",))
def batchnorm_smoother(records: Records) -> Outcome:
    """Effect: roughness of the validation loss curve (mean |second difference| of log10), without − with (> 0)."""
    pairs = bn_pairs(records)
    if not pairs:
        return not_measured()
    diffs = [roughness(hist(p, "val_loss")) - roughness(hist(n, "val_loss")) for p, n in pairs]
    plain, norm = pairs[0]
    return measure(f"roughness (mean absolute second difference of log10 validation loss per epoch) without − with "
                   f"BatchNorm (seed {plain.get('seed')}: {fmt(roughness(hist(norm, 'val_loss')), 4)} with, "
                   f"{fmt(roughness(hist(plain, 'val_loss')), 4)} without)", over_seeds(diffs), 0.0, ">", digits=4,
                   unmet=unmet_seeds(not_learned(pairs), "a run that did not learn (flat curves are smooth too)"))


def section_batchnorm(s: Report) -> str:
    parts = ["## A.1.3 BatchNorm", "",
             "| learning rate | final val loss without BN | with BN | final val acc without BN | with BN |",
             "|---|---|---|---|---|"]
    plain, norm = lr_runs(s.records, False), lr_runs(s.records, True)
    for lr in sorted(plain.keys() | norm.keys(), reverse=True):
        a, b = plain.get(lr), norm.get(lr)
        parts.append(f"| {lr:g} | {fmt(hist(a, 'val_loss')[-1]) if a else '—'} | "
                     f"{fmt(hist(b, 'val_loss')[-1]) if b else '—'} | "
                     f"{fmt(a['final']['val_accuracy']) if a else '—'} | {fmt(b['final']['val_accuracy']) if b else '—'} |")
    parts.append("")
    if s.find("epochs", batchnorm=False) and s.find("epochs", batchnorm=True):
        parts += [s.check(batchnorm_faster), s.check(batchnorm_smoother)]
    else:
        s.check_quietly(batchnorm_faster, batchnorm_smoother)
        parts.append("Not measured: the `epochs` experiment needs runs with and without BatchNorm.")
    return "\n".join(parts)


# ------------------------------------------------------------------ A.1.4 batch size
def by_batch_size(records: Records, experiment: str) -> list[dict]:
    return sorted(usable(records, experiment), key=lambda r: r["config"]["optim"]["batch_size"])


def halfway(record: dict, figure: float) -> float | None:
    """The bar for "learned": halfway from chance (1/K) to a reported accuracy (None when K is unknown)."""
    k = num_classes(record)
    return None if not k else 1 / k + 0.5 * (figure - 1 / k)


COURSE_BEST = 0.93  # STUDY: "reported accuracies (0.93-0.97 after 10-50 epochs)", the lower end


@claim("A.1.4", "with these epoch budgets, larger batches end with higher validation accuracy",
       course="~0.68, 0.93, 0.95, 0.97 for batch sizes 1, 16, 128, 1024 (1, 10, 50, 50 epochs)",
       experiments=("batch_size",))
def larger_batches_better(records: Records) -> Outcome:
    """Effect: the smallest rise of final validation accuracy from one batch size to the next larger (> 0: every
    larger batch ends more accurate). Floor: the largest batch's accuracy is at least halfway from chance to 0.97."""
    def one(rs: Records) -> list[dict] | None:
        runs = by_batch_size(rs, "batch_size")
        return runs if len(runs) >= 2 else None

    per = seeds(records, one)
    if not per:
        return not_measured()
    if any(halfway(runs[-1], 0.97) is None for runs in per):
        return not_measured("the runs do not record their class names (chance level unknown)")
    steps, failed = [], []
    for runs in per:
        accs = [r["final"]["val_accuracy"] for r in runs]
        steps.append(min(b - a for a, b in zip(accs, accs[1:])))
        if not accs[-1] >= halfway(runs[-1], 0.97):
            failed.append(f"seed {runs[-1].get('seed')}: {fmt(accs[-1])} < {fmt(halfway(runs[-1], 0.97))}")
    first = per[0]
    return measure("smallest rise of final validation accuracy to the next larger batch (seed "
                   f"{first[0].get('seed')}: " + ", ".join(f"{r['config']['optim']['batch_size']}: "
                                                           f"{fmt(r['final']['val_accuracy'])}" for r in first) + ")",
                   over_seeds(steps), 0.0, ">",
                   unmet=unmet_seeds(failed, "the largest batch is not halfway from chance to the course's 0.97"))


def batch_table(runs: list[dict]) -> list[str]:
    rows = ["| batch size | epochs | iterations/epoch | wall time (s) | final val accuracy | final test accuracy |",
            "|---|---|---|---|---|---|"]
    for r in runs:
        h = r["history"]
        rows.append(f"| {r['config']['optim']['batch_size']} | {r['config']['optim']['epochs']} | "
                    f"{h.get('iterations_per_epoch')} | {fmt(h.get('wall_time'), 2)} | "
                    f"{fmt(r['final']['val_accuracy'])} | {fmt(r['final']['test_accuracy'])}{status_note(r)} |")
    return rows


def section_batch_size(s: Report) -> str:
    parts = ["## A.1.4 Batch size", ""]
    runs = by_batch_size(s.records, "batch_size")
    if runs:
        sizes = [r["config"]["optim"]["batch_size"] for r in runs]
        parts += batch_table(runs) + [""]
        parts.append(f"Iterations per epoch fall from {runs[0]['history']['iterations_per_epoch']} at batch size "
                     f"{sizes[0]} to {runs[-1]['history']['iterations_per_epoch']} at {sizes[-1]}. Wall times are "
                     f"this bench's (device-resident batches), not a DataLoader loop's.")
        parts += ["", s.check(larger_batches_better)]
    else:
        parts.append("Not measured: the `batch_size` experiment has no finished runs.")
        s.check_quietly(larger_batches_better)
    runs_bn = by_batch_size(s.records, "batch_size_batchnorm")
    if runs_bn:
        parts += ["", "With BatchNorm:", ""] + batch_table(runs_bn)
    # A property of the bench, not a measurement: no run can test it, so it is stated, not checked.
    parts += ["", "STUDY's \"BatchNorm cannot train with batch size 1\" is not tested by a run: the bench refuses "
              "BatchNorm with batch size 1 before training (BatchNorm needs at least two examples per batch)."]
    parts += ["", s.figure_links("batch_size"), "", s.figure_links("batch_size_batchnorm")]
    return "\n".join(parts)


# ------------------------------------------------------------------ A.2.1-4 depth and width
def section_depth_width(s: Report) -> str:
    parts = ["## A.2.1–A.2.4 Depth and width", ""]
    runs = s.usable("depth_width")
    if not runs:
        parts.append("Not measured: the `depth_width` experiment has no finished runs.")
        return "\n".join(parts)
    parts += ["| depth | width | train acc | val acc | test acc | wall time (s) |", "|---|---|---|---|---|---|"]
    for r in runs:
        m = r["config"]["model"]
        parts.append(f"| {m['depth']} | {m['width']} | {fmt(r['final']['train_accuracy'])} | "
                     f"{fmt(r['final']['val_accuracy'])} | {fmt(r['final']['test_accuracy'])}{status_note(r)} | "
                     f"{fmt(r['history'].get('wall_time'), 2)} |")
    parts.append("")
    ranked = sorted(runs, key=lambda r: r["final"]["val_accuracy"])
    best, worst = ranked[-1], ranked[0]

    def name(r: dict) -> str:
        return f"depth {r['config']['model']['depth']}, width {r['config']['model']['width']}"

    parts.append(f"**A.2.1 Best** by validation accuracy: {name(best)} with {fmt(best['final']['val_accuracy'])} "
                 f"(test {fmt(best['final']['test_accuracy'])}; reported best ≈ 0.75–0.93). "
                 f"**A.2.2 Worst**: {name(worst)} with {fmt(worst['final']['val_accuracy'])} "
                 f"(test {fmt(worst['final']['test_accuracy'])}; reported ≈ 0.5). Their loss curves and decision "
                 f"regions follow.")
    # STUDY's depth series holds the width fixed (16) and its width series the depth (6): the most common values.
    models = [r["config"]["model"] for r in runs]
    width = Counter(m["width"] for m in models).most_common(1)[0][0]
    depth = Counter(m["depth"] for m in models).most_common(1)[0][0]
    for axis, fixed, value in (("depth", "width", width), ("width", "depth", depth)):
        series = sorted((r for r in runs if r["config"]["model"][fixed] == value),
                        key=lambda r: r["config"]["model"][axis])
        parts.append(f"\n**A.2.{3 if axis == 'depth' else 4} {axis.capitalize()}** ({fixed} {value}): validation "
                     f"accuracy " + ", ".join(f"{axis} {r['config']['model'][axis]}: "
                                              f"{fmt(r['final']['val_accuracy'])}" for r in series) + ".")
    parts += ["", s.figure_links("depth_width")]
    return "\n".join(parts)


# ------------------------------------------------------------------ A.2.5-6 gradients
GRADIENT_RUNS = {"plain": dict(batchnorm=False, residual=False), "BatchNorm": dict(batchnorm=True, residual=False),
                 "residual": dict(batchnorm=False, residual=True)}


def last_layer(record: dict) -> int:
    """The last hidden layer's index: `depth` hidden layers, the output layer after them."""
    return record["config"]["model"]["depth"] - 1


def plotted_layers(record: dict) -> list[int]:
    """STUDY's layers 0, 30, 60, 90, 95 and 99 of 100, scaled to this run's depth."""
    depth = record["config"]["model"]["depth"]
    return sorted({min(round(f * depth), depth - 1) for f in (0, 0.3, 0.6, 0.9, 0.95, 1)})


def mean_layer(record: dict, layer: int) -> float | None:
    grads = (record.get("history") or {}).get("grad_sq_norm") or []
    values = [g[layer] for g in grads if layer < len(g) and g[layer] is not None]
    return sum(values) / len(values) if values else None


def gradient_logs(records: Records, label: str) -> tuple[list[float], list[str], list[str], dict | None]:
    """Per seed, log10 of the mean ‖grad‖² of the lowest layer that still gets a gradient over the last hidden
    layer's, for one of `GRADIENT_RUNS`. A layer whose gradient is exactly zero (or not finite) is cut off by dead
    ReLUs: no gradient flows below it, which is not a gradient that shrinks, so the ratio starts above it; a seed
    where no layer below the last hidden one gets a gradient is dead (listed). Returns the logs, notes on the
    seeds cut off, the dead seeds and the first seed's run."""
    logs, cut, dead, first = [], [], [], None
    for r in seeds(records, lambda rs: find(rs, "gradients", **GRADIENT_RUNS[label])):
        top = last_layer(r)
        means = [mean_layer(r, i) for i in range(top + 1)]
        if any(m is None for m in means):
            continue
        first = first or r
        zero = max((i for i, m in enumerate(means) if not (math.isfinite(m) and m > 0)), default=-1)
        if zero >= top - 1:
            dead.append(f"seed {r.get('seed')}: none below layer {top}")
            continue
        if zero >= 0:
            cut.append(f"seed {r.get('seed')}: exactly zero at and below layer {zero} (dead units)")
        logs.append(math.log10(means[zero + 1] / means[top]))
    return logs, cut, dead, first


def gradient_claim(records: Records, label: str, margin: float, side: str) -> Outcome:
    logs, cut, dead, first = gradient_logs(records, label)
    if first is None:
        return not_measured()
    est = over_seeds(logs) if logs else Estimate(math.nan, math.nan, math.nan, "t interval over seeds", 0)
    return measure(f"log10 of the mean ‖grad‖² of the lowest layer that gets a gradient (layer 0 unless dead "
                   f"units cut it off) / layer {last_layer(first)}'s ({label})" + "".join(f"; {c}" for c in cut),
                   est, margin, side,
                   unmet=unmet_seeds(dead, "no gradient flows below the last hidden layer: a dead net, not a "
                                           "gradient that shrinks"))


@claim("A.2.5", "early layers' gradients vanish at depth 100", course="early layers' gradients vanish",
       experiments=("gradients",))
def gradients_vanish(records: Records) -> Outcome:
    """The gradient reaching the early layers is over 1000x smaller than the last hidden layer's (log10 < −3)."""
    return gradient_claim(records, "plain", -3.0, "<")


@claim("A.2.6", "with BatchNorm the early gradients explode instead",
       course="BatchNorm made them explode instead", experiments=("gradients",))
def batchnorm_gradients_explode(records: Records) -> Outcome:
    """The gradient reaching the early layers is over 1000x larger than the last hidden layer's (log10 > 3)."""
    return gradient_claim(records, "BatchNorm", 3.0, ">")


def residual_runs(records: Records) -> list[dict]:
    return seeds(records, lambda rs: find(rs, "gradients", **GRADIENT_RUNS["residual"]))


def residual_failures(runs: list[dict]) -> list[str]:
    """Seeds where the residual net is not above the learning bar (see ``residual_learns``)."""
    def below(r: dict) -> bool:
        bar, accuracy = halfway(r, COURSE_BEST), (r.get("final") or {}).get("val_accuracy")
        return bar is None or accuracy is None or not accuracy >= bar
    return [f"seed {r.get('seed')}" for r in runs if below(r)]


@claim("A.2.6", "residual connections keep every layer's gradient within 1000x of the others "
                "(neither vanishing nor exploding)", source=BENCH, experiments=("gradients",))
def residual_gradients_even(records: Records) -> Outcome:
    """Effect: log10 of the largest / smallest mean ‖grad‖² over the plotted layers (< 3), no layer at zero, in a
    residual net that learns (even gradients of a net that learns nothing are no fix)."""
    runs = [r for r in residual_runs(records) if all(mean_layer(r, i) is not None for i in plotted_layers(r))]
    if not runs:
        return not_measured()
    spreads, dead = [], []
    for r in runs:
        known = [mean_layer(r, i) for i in plotted_layers(r)]
        if not all(math.isfinite(m) and m > 0 for m in known):
            dead.append(f"seed {r.get('seed')}")
        else:
            spreads.append(math.log10(max(known) / min(known)))
    est = over_seeds(spreads) if spreads else Estimate(math.inf, math.inf, math.inf, "t interval over seeds", 0)
    unmet = unmet_seeds(dead, "a plotted layer gets exactly zero (or a non-finite) gradient") or \
        unmet_seeds(residual_failures(runs), "the residual net did not learn")
    return measure(f"log10 of the largest / smallest mean ‖grad‖² over layers {plotted_layers(runs[0])} "
                   f"(residual)", est, 3.0, "<", unmet=unmet)


@claim("A.2.6", "the residual network learns at depth 100 (validation accuracy at least halfway from chance to 0.93)",
       source=BENCH, experiments=("gradients",))
def residual_learns(records: Records) -> Outcome:
    """Effect: validation accuracy − the bar, the bar halfway from chance (1/K) to 0.93, the lower end of the
    course's reported accuracies (well above the majority class, 0.15 on the default cities)."""
    runs = [r for r in residual_runs(records) if (r.get("final") or {}).get("val_accuracy") is not None]
    if not runs:
        return not_measured()
    if any(halfway(r, COURSE_BEST) is None for r in runs):
        return not_measured("the runs do not record their class names (chance level unknown)")
    bar = halfway(runs[0], COURSE_BEST)
    return measure(f"validation accuracy − {fmt(bar)} (halfway from chance {fmt(1 / num_classes(runs[0]))} to "
                   f"{COURSE_BEST}; seed {runs[0].get('seed')}: {fmt(runs[0]['final']['val_accuracy'])}) (residual)",
                   over_seeds([r["final"]["val_accuracy"] - halfway(r, COURSE_BEST) for r in runs]), 0.0, ">")


def section_gradients(s: Report) -> str:
    parts = ["## A.2.5–A.2.6 Gradients at depth 100", ""]
    runs = [(label, s.find("gradients", **values)) for label, values in GRADIENT_RUNS.items()]
    found = [(label, r) for label, r in runs if r]
    if found:
        layers = plotted_layers(found[0][1])
        rows = ["| model | " + " | ".join(f"layer {i}" for i in layers) + " | final val acc |",
                "|---|" + "---|" * (len(layers) + 1)]
        for label, r in found:
            means = [mean_layer(r, i) for i in layers]
            rows.append(f"| {label} | " + " | ".join("—" if m is None else f"{m:.2e}" for m in means) +
                        f" | {fmt(r['final']['val_accuracy'])} |")
        epochs = max(len((r.get("history") or {}).get("grad_sq_norm") or []) for _, r in found)
        parts += [f"Mean ‖grad‖² per step, averaged over the {epochs} epochs:", ""] + rows + [""]
    parts += [s.check(gradients_vanish), s.check(batchnorm_gradients_explode), s.check(residual_gradients_even),
              s.check(residual_learns), "", s.figure_links("gradients")]
    return "\n".join(parts)


# ------------------------------------------------------------------ A.2.7 sine features
def sine_pairs(records: Records) -> list[tuple[dict | None, dict | None]]:
    return seeds(records, lambda rs: (find(rs, "sine", sine_features=False), find(rs, "sine", sine_features=True)))


@claim("A.2.7", "sine features beat raw coordinates", course="sharper, more intricate boundaries; accuracy near 1",
       experiments=("sine",))
def sine_beats_raw(records: Records) -> Outcome:
    """Effect: validation accuracy with sine features − with raw coordinates (> 0), the sine run learned."""
    pairs = [(raw, sine) for raw, sine in sine_pairs(records) if raw and sine]
    if not pairs:
        return not_measured()
    raw, sine = pairs[0]
    failed = [f"seed {s.get('seed')}" for _, s in pairs if not learned(s)]
    return measure(f"validation accuracy with sine features − raw (seed {sine.get('seed')}: "
                   f"{fmt(sine['final']['val_accuracy'])} vs {fmt(raw['final']['val_accuracy'])})"
                   f"{budget_note(records, 'sine')}",
                   over_seeds([s["final"]["val_accuracy"] - r["final"]["val_accuracy"] for r, s in pairs]), 0.0, ">",
                   unmet=unmet_seeds(failed, "the sine run did not learn"))


@claim("A.2.7", "sine features reach accuracy near 1 (above 0.95)", course="accuracy near 1", experiments=("sine",))
def sine_near_one(records: Records) -> Outcome:
    """Effect: the sine run's validation accuracy (> 0.95); not measured below the course's 50 epochs, since
    accuracy "near 1" depends on the budget."""
    runs = [sine for _, sine in sine_pairs(records) if sine]
    if not runs:
        return not_measured()
    epochs = min(r["config"]["optim"]["epochs"] for r in runs)
    if epochs < COURSE_EPOCHS["sine"]:
        return not_measured(f"the sine runs trained {epochs} epochs where the course trained "
                            f"{COURSE_EPOCHS['sine']}: too small a budget to judge an accuracy near 1")
    return measure(f"validation accuracy with sine features (seed {runs[0].get('seed')}: "
                   f"{fmt(runs[0]['final']['val_accuracy'])})",
                   over_seeds([r["final"]["val_accuracy"] for r in runs]), 0.95, ">")


def section_sine(s: Report) -> str:
    parts = ["## A.2.7 Sine features", ""]
    raw, sine = s.find("sine", sine_features=False), s.find("sine", sine_features=True)
    if not (raw and sine):
        s.check_quietly(sine_beats_raw, sine_near_one)
        return "\n".join(parts + ["Not measured: the `sine` experiment needs both runs."])
    model = raw["config"]["model"]
    parts.append(f"Same MLP (depth {model['depth']}, width {model['width']}): raw coordinates reach validation "
                 f"accuracy {fmt(raw['final']['val_accuracy'])} (test {fmt(raw['final']['test_accuracy'])}); sin(a·x) "
                 f"features reach {fmt(sine['final']['val_accuracy'])} (test {fmt(sine['final']['test_accuracy'])}).")
    parts += ["", s.check(sine_beats_raw), s.check(sine_near_one), "", s.figure_links("sine")]
    return "\n".join(parts)


SECTIONS = [section_lr, section_epochs, section_batchnorm, section_batch_size, section_depth_width,
            section_gradients, section_sine]
