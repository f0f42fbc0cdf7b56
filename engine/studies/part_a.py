"""STUDY Part A: MLPs on European cities, answered from the runs' records.

Settings (learning rates, epochs, depth and width, the last layer) are read
from the records; where STUDY names values (lr 1 and 1e-5), they are taken
by rank among the rates that ran, and the text says which ones.
"""

from __future__ import annotations

import math
from collections import Counter

from engine.studies import Outcome, Report, Records, claim, find, fmt, hist, judge, select, status_note, usable

LABEL = "Part A"
TITLE = f"{LABEL} — MLPs on European cities"
EXPERIMENTS = ["lr", "epochs", "batch_size", "batch_size_batchnorm", "depth_width", "gradients", "sine"]


def final_val_loss(record: dict) -> float:
    """The last validation loss; infinite when it is not finite, so it ranks last."""
    value = hist(record, "val_loss")[-1]
    return value if math.isfinite(value) else math.inf


# ------------------------------------------------------------------ A.1.1 learning rate
def lr_runs(records: Records, batchnorm: bool = False) -> dict[float, dict]:
    """The `lr` experiment's finished runs by learning rate, highest first."""
    runs: dict[float, dict] = {}
    for r in select(records, "lr", batchnorm=batchnorm):
        runs.setdefault(r["config"]["optim"]["lr"], r)
    return dict(sorted(runs.items(), reverse=True))


def num_classes(record: dict) -> int | None:
    names = (record.get("data") or {}).get("class_names")
    return len(names) if names else None


@claim("A.1.1", "too high a learning rate (1) fails to learn")
def high_lr_fails(records: Records) -> Outcome:
    """The highest rate that ran ends near chance loss or far below the best accuracy."""
    runs = lr_runs(records)
    if len(runs) < 2:
        return judge(None, None)
    lr, high = next(iter(runs.items()))
    k = num_classes(high)
    if not k:
        return judge(None, None)
    chance, final, acc = math.log(k), hist(high, "val_loss")[-1], high["final"]["val_accuracy"]
    best = max(r["final"]["val_accuracy"] for r in runs.values())
    return judge(f"lr = {lr:g}: final val loss {fmt(final)} vs chance {fmt(chance)}, val accuracy {fmt(acc)} "
                 f"vs best {fmt(best)}", not math.isfinite(final) or final >= 0.7 * chance or acc < 0.5 * best)


@claim("A.1.1", "a learning rate of 1e-5 descends very slowly")
def low_lr_slow(records: Records) -> Outcome:
    """The lowest rate that ran lowers the validation loss by under a fifth of the best rate's drop."""
    runs = lr_runs(records)
    if len(runs) < 2:
        return judge(None, None)
    drops = {lr: hist(r, "val_loss")[0] - hist(r, "val_loss")[-1] for lr, r in runs.items()}
    lr, best_drop = min(runs), max(drops.values())
    return judge(f"lr = {lr:g} lowers the val loss by {fmt(drops[lr])} over {len(hist(runs[lr], 'val_loss')) - 1} "
                 f"epochs; the best learning rate lowers it by {fmt(best_drop)}", drops[lr] < 0.2 * best_drop)


@claim("A.1.1", "1e-2 and 1e-3 are the best learning rates")
def middle_lrs_best(records: Records) -> Outcome:
    """STUDY's 1e-2 and 1e-3 are the second and third highest of its rates: they rank best by final val loss."""
    runs = lr_runs(records)
    if len(runs) < 4:  # fewer, and the pair would include the highest or lowest rate
        return judge(None, None)
    ranked = sorted(runs, key=lambda lr: final_val_loss(runs[lr]))
    pair = list(runs)[1:3]
    return judge("ranked by final validation loss: " + ", ".join(f"{lr:g}" for lr in ranked) +
                 f" (the second and third highest are {pair[0]:g} and {pair[1]:g})", set(ranked[:2]) == set(pair))


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
OVERFIT = 80  # STUDY: "overfitting signs around epoch 80"; "around" is taken as 60-95


def best_epoch(val: list[float]) -> int:
    return min(range(len(val)), key=lambda i: val[i] if math.isfinite(val[i]) else math.inf)


@claim("A.1.2", "most of the loss drop happens in the first ~20 epochs")
def early_drop(records: Records) -> Outcome:
    """Half or more of the drop to the lowest validation loss is done by epoch 20."""
    r = find(records, "epochs", batchnorm=False)
    if not r:
        return judge(None, None)
    val = hist(r, "val_loss")
    if len(val) - 1 <= EARLY:
        return judge(f"the run has {len(val) - 1} epochs, not more than {EARLY}", None)
    total = val[0] - val[best_epoch(val)]
    frac = (val[0] - val[EARLY]) / total if total > 0 else float("nan")
    return judge(f"{fmt(100 * frac, 0)} % of the drop to the lowest validation loss is done by epoch {EARLY}",
                 frac >= 0.5 if math.isfinite(frac) else None)


@claim("A.1.2", "signs of overfitting appear around epoch 80")
def overfits_late(records: Records) -> Outcome:
    """The validation loss bottoms out around epoch 80, then rises while the train gap widens."""
    r = find(records, "epochs", batchnorm=False)
    if not r:
        return judge(None, None)
    val, train = hist(r, "val_loss"), hist(r, "train_loss")
    epochs, best = len(val) - 1, best_epoch(val)
    if epochs < OVERFIT:
        return judge(f"the run has {epochs} epochs, fewer than {OVERFIT}", None)
    gap_best, gap_end = val[best] - train[best], val[-1] - train[-1]
    return judge(f"lowest validation loss at epoch {best} of {epochs}; final validation loss {fmt(val[-1])} vs lowest "
                 f"{fmt(val[best])}; validation − train gap {fmt(gap_best)} at the lowest point, {fmt(gap_end)} at "
                 f"the end", val[-1] > val[best] * 1.01 and gap_end > gap_best and 60 <= best <= 95)


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


@claim("A.1.3", "BatchNorm converges in fewer epochs")
def batchnorm_faster(records: Records) -> Outcome:
    """With BatchNorm, 90 % of the lower final validation accuracy is reached at an earlier epoch."""
    plain, norm = find(records, "epochs", batchnorm=False), find(records, "epochs", batchnorm=True)
    if not (plain and norm):
        return judge(None, None)
    acc_p, acc_n = hist(plain, "val_accuracy"), hist(norm, "val_accuracy")
    threshold = 0.9 * min(acc_p[-1], acc_n[-1])
    e_p, e_n = epochs_to(acc_p, threshold), epochs_to(acc_n, threshold)
    optim = plain["config"]["optim"]
    return judge(f"{optim['epochs']}-epoch runs (lr {optim['lr']:g}): validation accuracy {fmt(threshold)} (90 % of "
                 f"the lower final accuracy) is reached at epoch {e_n} with BatchNorm and {e_p} without",
                 None if e_n is None or e_p is None else e_n < e_p)


@claim("A.1.3", "BatchNorm training curves are smoother")
def batchnorm_smoother(records: Records) -> Outcome:
    plain, norm = find(records, "epochs", batchnorm=False), find(records, "epochs", batchnorm=True)
    if not (plain and norm):
        return judge(None, None)
    r_p, r_n = roughness(hist(plain, "val_loss")), roughness(hist(norm, "val_loss"))
    return judge(f"mean absolute second difference of log10 validation loss per epoch: {fmt(r_n, 4)} with BatchNorm, "
                 f"{fmt(r_p, 4)} without", r_n < r_p if math.isfinite(r_n) and math.isfinite(r_p) else None)


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


@claim("A.1.4", "with these epoch budgets, larger batches end with higher validation accuracy "
                "(reported 0.68, 0.93, 0.95, 0.97)")
def larger_batches_better(records: Records) -> Outcome:
    runs = by_batch_size(records, "batch_size")
    if len(runs) < 2:
        return judge(None, None)
    accs = [r["final"]["val_accuracy"] for r in runs]
    return judge("final validation accuracy by batch size: " + ", ".join(
        f"{r['config']['optim']['batch_size']}: {fmt(a)}" for r, a in zip(runs, accs)),
        all(a < b for a, b in zip(accs, accs[1:])))


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


def gradient_ratio(records: Records, label: str) -> tuple[str | None, float | None]:
    """Layer 0's mean ‖grad‖² over the last hidden layer's, with its text, for one of `GRADIENT_RUNS`."""
    r = find(records, "gradients", **GRADIENT_RUNS[label])
    if not r:
        return None, None
    first, last = mean_layer(r, 0), mean_layer(r, last_layer(r))
    if first is None or not last:
        return None, None
    return f"layer 0 / layer {last_layer(r)} gradient ratio {first / last:.2e} ({label})", first / last


@claim("A.2.5", "early layers' gradients vanish at depth 100")
def gradients_vanish(records: Records) -> Outcome:
    measured, ratio = gradient_ratio(records, "plain")
    return judge(measured, None if ratio is None else ratio < 1e-3)


@claim("A.2.6", "with BatchNorm the early gradients explode instead")
def batchnorm_gradients_explode(records: Records) -> Outcome:
    measured, ratio = gradient_ratio(records, "BatchNorm")
    return judge(measured, None if ratio is None else ratio > 1e3)


@claim("A.2.6", "residual connections keep every layer's gradient within 1000x of the others "
                "(neither vanishing nor exploding)")
def residual_gradients_even(records: Records) -> Outcome:
    r = find(records, "gradients", **GRADIENT_RUNS["residual"])
    known = [m for m in (mean_layer(r, i) for i in plotted_layers(r)) if m is not None] if r else []
    if not known:
        return judge(None, None)
    spread = max(known) / min(known) if min(known) > 0 else math.inf
    return judge(f"largest / smallest mean ‖grad‖² over layers {plotted_layers(r)}: "
                 f"{'infinite (some layers get exactly zero)' if math.isinf(spread) else f'{spread:.2e}'} (residual)",
                 spread <= 1e3)


@claim("A.2.6", "the residual network learns at depth 100 (validation accuracy at least 5x chance)")
def residual_learns(records: Records) -> Outcome:
    r = find(records, "gradients", **GRADIENT_RUNS["residual"])
    classes = len((r.get("data") or {}).get("class_names") or []) if r else 0
    if not r or not classes or (r.get("final") or {}).get("val_accuracy") is None:
        return judge(None, None)
    accuracy, chance = r["final"]["val_accuracy"], 1 / classes
    return judge(f"validation accuracy {fmt(accuracy)} vs chance {fmt(chance)} (residual)", accuracy >= 5 * chance)


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
@claim("A.2.7", "sine features beat raw coordinates")
def sine_beats_raw(records: Records) -> Outcome:
    raw, sine = find(records, "sine", sine_features=False), find(records, "sine", sine_features=True)
    if not (raw and sine):
        return judge(None, None)
    acc_sine, acc_raw = sine["final"]["val_accuracy"], raw["final"]["val_accuracy"]
    return judge(f"validation accuracy {fmt(acc_sine)} vs {fmt(acc_raw)}", acc_sine > acc_raw)


@claim("A.2.7", "sine features reach accuracy near 1 (≥ 0.95)")
def sine_near_one(records: Records) -> Outcome:
    sine = find(records, "sine", sine_features=True)
    if not sine:
        return judge(None, None)
    return judge(f"validation accuracy {fmt(sine['final']['val_accuracy'])}", sine["final"]["val_accuracy"] >= 0.95)


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
