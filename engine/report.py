"""REPORT.md and REPORT.html: every STUDY question answered from the runs.

Sentences are generated from the measured numbers; every qualitative claim
of STUDY is checked against them and gets a verdict: reproduced, not
reproduced, or not measured. A claim that does not reproduce is reported as
such. The report is rebuilt from the run records on every replay, so a
resumed replay gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.config import flatten
from engine.io import write_json, write_text

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced", "not measured"


@dataclass
class Finding:
    section: str
    claim: str
    measured: str
    verdict: str


class Study:
    """Look-ups over the replay's run records."""

    def __init__(self, summary, out: Path):
        self.records: dict[str, list[dict]] = summary.records
        self.figures: dict[str, list[str]] = summary.figures
        self.out = out
        self.findings: list[Finding] = []

    def runs(self, experiment: str) -> list[dict]:
        return self.records.get(experiment, [])

    def usable(self, experiment: str) -> list[dict]:
        return [r for r in self.runs(experiment) if r.get("status") in ("ok", "diverged") and r.get("final")]

    def find(self, experiment: str, **values: Any) -> dict | None:
        """The run whose config has these leaf values (``lr=1.0, batchnorm=False``)."""
        for r in self.usable(experiment):
            flat = flatten(r["config"])
            if all(_leaf(flat, k) == v for k, v in values.items()):
                return r
        return None

    def images(self, experiment: str) -> str:
        lines = []
        for name in self.figures.get(experiment, []):
            if name.endswith(".png"):
                lines.append(f"![{experiment}: {name}]({experiment}/{name})")
        return "\n\n".join(lines)

    def check(self, section: str, claim: str, measured: str | None, ok: bool | None) -> str:
        verdict = NOT_MEASURED if measured is None or ok is None else (REPRODUCED if ok else NOT_REPRODUCED)
        self.findings.append(Finding(section, claim, measured or "the runs needed are missing or failed", verdict))
        return f"> **Check — {claim}**: {measured or 'not measured'} → **{verdict}**.\n"


def _leaf(flat: dict, key: str) -> Any:
    if key in flat:
        return flat[key]
    matches = [v for k, v in flat.items() if k.rsplit(".", 1)[-1] == key]
    return matches[0] if len(matches) == 1 else None


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def hist(record: dict, key: str) -> list[float]:
    return [v if v is not None else float("nan") for v in (record.get("history") or {}).get(key, [])]


def status_note(record: dict) -> str:
    return "" if record.get("status") == "ok" else f" ({record['status']}: {record.get('message', '')})"


def num_classes(study: Study) -> int | None:
    for runs in study.records.values():
        for r in runs:
            names = (r.get("data") or {}).get("class_names")
            if names and r.get("kind") == "mlp":
                return len(names)
    return None


# ------------------------------------------------------------------ Part A
def section_lr(s: Study) -> str:
    parts = ["## A.1.1 Learning rate", ""]
    runs = {lr: s.find("lr", lr=lr, batchnorm=False) for lr in (1.0, 0.01, 0.001, 0.00001)}
    k = num_classes(s)
    chance = math.log(k) if k else None
    if not any(runs.values()):
        parts.append("Not measured: the `lr` experiment has no finished runs.")
        s.check("A.1.1", "too high a learning rate (1) fails to learn", None, None)
        s.check("A.1.1", "a learning rate of 1e-5 descends very slowly", None, None)
        s.check("A.1.1", "1e-2 and 1e-3 are the best learning rates", None, None)
        return "\n".join(parts)
    rows = ["| learning rate | final val loss | lowest val loss | final val accuracy |", "|---|---|---|---|"]
    for lr, r in runs.items():
        if r:
            rows.append(f"| {lr:g} | {fmt(hist(r, 'val_loss')[-1])} | {fmt(min(hist(r, 'val_loss')))} | "
                        f"{fmt(r['final']['val_accuracy'])}{status_note(r)} |")
    parts += rows + [""]
    high = runs.get(1.0)
    if high and chance:
        final = hist(high, "val_loss")[-1]
        parts.append(f"With lr = 1 the validation loss ends at {fmt(final)}, next to chance level "
                     f"ln({k}) = {fmt(chance)}; its validation accuracy is {fmt(high['final']['val_accuracy'])}.")
    finished = {lr: r for lr, r in runs.items() if r}
    best_acc = max(r["final"]["val_accuracy"] for r in finished.values())
    measured = (f"lr = 1: final val loss {fmt(hist(high, 'val_loss')[-1])} vs chance {fmt(chance)}, val accuracy "
                f"{fmt(high['final']['val_accuracy'])} vs best {fmt(best_acc)}") if high and chance else None
    ok = None
    if high and chance:
        ok = (not math.isfinite(hist(high, "val_loss")[-1]) or hist(high, "val_loss")[-1] >= 0.7 * chance
              or high["final"]["val_accuracy"] < 0.5 * best_acc)
    parts += ["", s.check("A.1.1", "too high a learning rate (1) fails to learn", measured, ok)]

    slow, drops = runs.get(0.00001), {lr: hist(r, "val_loss")[0] - hist(r, "val_loss")[-1] for lr, r in finished.items()}
    if slow and len(drops) > 1:
        best_drop = max(drops.values())
        measured = (f"lr = 1e-5 lowers the val loss by {fmt(drops[0.00001])} over {len(hist(slow, 'val_loss')) - 1} "
                    f"epochs; the best learning rate lowers it by {fmt(best_drop)}")
        parts.append(s.check("A.1.1", "a learning rate of 1e-5 descends very slowly", measured,
                             drops[0.00001] < 0.2 * best_drop))
    else:
        parts.append(s.check("A.1.1", "a learning rate of 1e-5 descends very slowly", None, None))
    ranked = sorted(finished, key=lambda lr: hist(finished[lr], "val_loss")[-1]
                    if math.isfinite(hist(finished[lr], "val_loss")[-1]) else math.inf)
    measured = "ranked by final validation loss: " + ", ".join(f"{lr:g}" for lr in ranked) if len(ranked) >= 2 else None
    parts.append(s.check("A.1.1", "1e-2 and 1e-3 are the best learning rates", measured,
                         set(ranked[:2]) == {0.01, 0.001} if measured else None))
    parts += ["", s.images("lr")]
    return "\n".join(parts)


def epochs_to(values: list[float], threshold: float) -> int | None:
    for epoch, v in enumerate(values):
        if v >= threshold:
            return epoch
    return None


def roughness(values: list[float]) -> float:
    logs = [math.log10(v) for v in values if v and v > 0 and math.isfinite(v)]
    if len(logs) < 3:
        return float("nan")
    second = [abs(logs[i + 1] - 2 * logs[i] + logs[i - 1]) for i in range(1, len(logs) - 1)]
    return sum(second) / len(second)


def section_epochs(s: Study) -> str:
    parts = ["## A.1.2 Epochs", ""]
    r = s.find("epochs", batchnorm=False)
    if not r:
        parts.append("Not measured: the `epochs` experiment has no finished run without BatchNorm.")
        s.check("A.1.2", "most of the loss drop happens in the first ~20 epochs", None, None)
        s.check("A.1.2", "signs of overfitting appear around epoch 80", None, None)
        return "\n".join(parts)
    val, train, test = hist(r, "val_loss"), hist(r, "train_loss"), hist(r, "test_loss")
    best_epoch = min(range(len(val)), key=lambda i: val[i] if math.isfinite(val[i]) else math.inf)
    parts.append(f"Over {len(val) - 1} epochs the loss goes from {fmt(val[0])} (untrained) to train {fmt(train[-1])}, "
                 f"validation {fmt(val[-1])} and test {fmt(test[-1])}. The validation loss is lowest at epoch "
                 f"{best_epoch} ({fmt(val[best_epoch])}).")
    at = min(20, len(val) - 1)
    total = val[0] - val[best_epoch]
    frac = (val[0] - val[at]) / total if total > 0 else float("nan")
    parts += ["", s.check("A.1.2", "most of the loss drop happens in the first ~20 epochs",
                          f"{fmt(100 * frac, 0)} % of the drop to the lowest validation loss is done by epoch {at}",
                          frac >= 0.5 if math.isfinite(frac) else None)]
    gap_best, gap_end = val[best_epoch] - train[best_epoch], val[-1] - train[-1]
    rising = val[-1] > val[best_epoch] * 1.01
    measured = (f"lowest validation loss at epoch {best_epoch} of {len(val) - 1}; final validation loss "
                f"{fmt(val[-1])} vs lowest {fmt(val[best_epoch])}; validation − train gap {fmt(gap_best)} at the "
                f"lowest point, {fmt(gap_end)} at the end")
    parts.append(s.check("A.1.2", "signs of overfitting appear around epoch 80", measured,
                         rising and gap_end > gap_best and 60 <= best_epoch <= 95))
    parts += ["", s.images("epochs")]
    return "\n".join(parts)


def section_batchnorm(s: Study) -> str:
    parts = ["## A.1.3 BatchNorm", ""]
    rows = ["| learning rate | final val loss without BN | with BN | final val acc without BN | with BN |",
            "|---|---|---|---|---|"]
    for lr in (1.0, 0.01, 0.001, 0.00001):
        a, b = s.find("lr", lr=lr, batchnorm=False), s.find("lr", lr=lr, batchnorm=True)
        if a or b:
            rows.append(f"| {lr:g} | {fmt(hist(a, 'val_loss')[-1]) if a else '—'} | "
                        f"{fmt(hist(b, 'val_loss')[-1]) if b else '—'} | "
                        f"{fmt(a['final']['val_accuracy']) if a else '—'} | {fmt(b['final']['val_accuracy']) if b else '—'} |")
    parts += rows + [""]
    plain, norm = s.find("epochs", batchnorm=False), s.find("epochs", batchnorm=True)
    if plain and norm:
        acc_p, acc_n = hist(plain, "val_accuracy"), hist(norm, "val_accuracy")
        threshold = 0.9 * min(acc_p[-1], acc_n[-1])
        e_p, e_n = epochs_to(acc_p, threshold), epochs_to(acc_n, threshold)
        optim = plain["config"]["optim"]
        measured = (f"{optim['epochs']}-epoch runs (lr {optim['lr']:g}): validation accuracy {fmt(threshold)} "
                    f"(90 % of the lower final "
                    f"accuracy) is reached at epoch {e_n} with BatchNorm and {e_p} without")
        parts.append(s.check("A.1.3", "BatchNorm converges in fewer epochs", measured,
                             None if e_n is None or e_p is None else e_n < e_p))
        r_p, r_n = roughness(hist(plain, "val_loss")), roughness(hist(norm, "val_loss"))
        measured = (f"mean absolute second difference of log10 validation loss per epoch: {fmt(r_n, 4)} with BatchNorm, "
                    f"{fmt(r_p, 4)} without")
        parts.append(s.check("A.1.3", "BatchNorm training curves are smoother", measured,
                             r_n < r_p if math.isfinite(r_n) and math.isfinite(r_p) else None))
    else:
        s.check("A.1.3", "BatchNorm converges in fewer epochs", None, None)
        s.check("A.1.3", "BatchNorm training curves are smoother", None, None)
        parts.append("Not measured: the `epochs` experiment needs runs with and without BatchNorm.")
    return "\n".join(parts)


def batch_table(s: Study, experiment: str) -> tuple[list[str], list[dict]]:
    runs = sorted(s.usable(experiment), key=lambda r: r["config"]["optim"]["batch_size"])
    rows = ["| batch size | epochs | iterations/epoch | wall time (s) | final val accuracy | final test accuracy |",
            "|---|---|---|---|---|---|"]
    for r in runs:
        h = r["history"]
        rows.append(f"| {r['config']['optim']['batch_size']} | {r['config']['optim']['epochs']} | "
                    f"{h.get('iterations_per_epoch')} | {fmt(h.get('wall_time'), 2)} | "
                    f"{fmt(r['final']['val_accuracy'])} | {fmt(r['final']['test_accuracy'])}{status_note(r)} |")
    return rows, runs


def section_batch_size(s: Study) -> str:
    from engine.errors import BenchError
    from engine.trainers.mlp import MLPTrainConfig, check_config
    from engine.config import apply_overrides

    parts = ["## A.1.4 Batch size", ""]
    rows, runs = batch_table(s, "batch_size")
    if runs:
        parts += rows + [""]
        accs = [r["final"]["val_accuracy"] for r in runs]
        sizes = [r["config"]["optim"]["batch_size"] for r in runs]
        parts.append(f"Iterations per epoch fall from {runs[0]['history']['iterations_per_epoch']} at batch size "
                     f"{sizes[0]} to {runs[-1]['history']['iterations_per_epoch']} at {sizes[-1]}. Wall times are "
                     f"this bench's (device-resident batches), not a DataLoader loop's.")
        measured = "final validation accuracy by batch size: " + ", ".join(f"{b}: {fmt(a)}" for b, a in zip(sizes, accs))
        parts += ["", s.check("A.1.4", "with these epoch budgets, larger batches end with higher validation "
                              "accuracy (reported 0.68, 0.93, 0.95, 0.97)", measured,
                              all(a < b for a, b in zip(accs, accs[1:])))]
    else:
        parts.append("Not measured: the `batch_size` experiment has no finished runs.")
        s.check("A.1.4", "with these epoch budgets, larger batches end with higher validation accuracy", None, None)
    rows, runs_bn = batch_table(s, "batch_size_batchnorm")
    if runs_bn:
        parts += ["", "With BatchNorm:", ""] + rows
    try:
        check_config(apply_overrides(MLPTrainConfig(), {"model.batchnorm": True, "optim.batch_size": 1}))
        refused = None
    except BenchError as exc:
        refused = str(exc)
    parts += ["", s.check("A.1.4", "BatchNorm cannot train with batch size 1",
                          f"the bench refuses it before training: \"{refused}\"" if refused else
                          "the bench accepted BatchNorm with batch size 1", refused is not None)]
    parts += ["", s.images("batch_size"), "", s.images("batch_size_batchnorm")]
    return "\n".join(parts)


def section_depth_width(s: Study) -> str:
    parts = ["## A.2.1–A.2.4 Depth and width", ""]
    runs = s.usable("depth_width")
    if not runs:
        parts.append("Not measured: the `depth_width` experiment has no finished runs.")
        return "\n".join(parts)
    rows = ["| depth | width | train acc | val acc | test acc | wall time (s) |", "|---|---|---|---|---|---|"]
    for r in runs:
        m = r["config"]["model"]
        rows.append(f"| {m['depth']} | {m['width']} | {fmt(r['final']['train_accuracy'])} | "
                    f"{fmt(r['final']['val_accuracy'])} | {fmt(r['final']['test_accuracy'])}{status_note(r)} | "
                    f"{fmt(r['history'].get('wall_time'), 2)} |")
    parts += rows + [""]
    ranked = sorted(runs, key=lambda r: r["final"]["val_accuracy"])
    best, worst = ranked[-1], ranked[0]

    def name(r: dict) -> str:
        return f"depth {r['config']['model']['depth']}, width {r['config']['model']['width']}"

    parts.append(f"**A.2.1 Best** by validation accuracy: {name(best)} with {fmt(best['final']['val_accuracy'])} "
                 f"(test {fmt(best['final']['test_accuracy'])}; reported best ≈ 0.75–0.93). "
                 f"**A.2.2 Worst**: {name(worst)} with {fmt(worst['final']['val_accuracy'])} "
                 f"(test {fmt(worst['final']['test_accuracy'])}; reported ≈ 0.5). Their loss curves and decision "
                 f"regions follow.")
    deep = sorted((r for r in runs if r["config"]["model"]["width"] == 16), key=lambda r: r["config"]["model"]["depth"])
    wide = sorted((r for r in runs if r["config"]["model"]["depth"] == 6), key=lambda r: r["config"]["model"]["width"])
    if deep:
        parts.append("\n**A.2.3 Depth** (width 16): validation accuracy " + ", ".join(
            f"depth {r['config']['model']['depth']}: {fmt(r['final']['val_accuracy'])}" for r in deep) + ".")
    if wide:
        parts.append("\n**A.2.4 Width** (depth 6): validation accuracy " + ", ".join(
            f"width {r['config']['model']['width']}: {fmt(r['final']['val_accuracy'])}" for r in wide) + ".")
    parts += ["", s.images("depth_width")]
    return "\n".join(parts)


def mean_layer(record: dict, layer: int) -> float | None:
    grads = (record.get("history") or {}).get("grad_sq_norm") or []
    values = [g[layer] for g in grads if layer < len(g) and g[layer] is not None]
    return sum(values) / len(values) if values else None


def section_gradients(s: Study) -> str:
    parts = ["## A.2.5–A.2.6 Gradients at depth 100", ""]
    layers = [0, 30, 60, 90, 95, 99]
    runs = [("plain", s.find("gradients", batchnorm=False, residual=False)),
            ("BatchNorm", s.find("gradients", batchnorm=True, residual=False)),
            ("residual", s.find("gradients", batchnorm=False, residual=True))]
    rows = ["| model | " + " | ".join(f"layer {i}" for i in layers) + " | final val acc |",
            "|---|" + "---|" * (len(layers) + 1)]
    ratios, spreads = {}, {}
    for label, r in runs:
        if not r:
            continue
        means = [mean_layer(r, i) for i in layers]
        known = [m for m in means if m is not None]
        spreads[label] = (max(known) / min(known) if min(known) > 0 else math.inf) if known else None
        rows.append(f"| {label} | " + " | ".join("—" if m is None else f"{m:.2e}" for m in means) +
                    f" | {fmt(r['final']['val_accuracy'])} |")
        first, last = mean_layer(r, 0), mean_layer(r, 99)
        ratios[label] = first / last if first is not None and last else None
    epochs = max((len((r.get("history") or {}).get("grad_sq_norm") or []) for _, r in runs if r), default=0)
    parts += [f"Mean ‖grad‖² per step, averaged over the {epochs} epochs:", ""] + rows + [""]

    def ratio_text(label: str) -> str | None:
        value = ratios.get(label)
        return None if value is None else f"layer 0 / layer 99 gradient ratio {value:.2e} ({label})"

    parts.append(s.check("A.2.5", "early layers' gradients vanish at depth 100", ratio_text("plain"),
                         None if ratios.get("plain") is None else ratios["plain"] < 1e-3))
    parts.append(s.check("A.2.6", "with BatchNorm the early gradients explode instead", ratio_text("BatchNorm"),
                         None if ratios.get("BatchNorm") is None else ratios["BatchNorm"] > 1e3))
    spread = spreads.get("residual")
    parts.append(s.check("A.2.6", "residual connections keep every layer's gradient within 1000x of the others "
                         "(neither vanishing nor exploding)",
                         None if spread is None else f"largest / smallest mean ‖grad‖² over layers {layers}: "
                         f"{'infinite (some layers get exactly zero)' if math.isinf(spread) else f'{spread:.2e}'} "
                         "(residual)",
                         None if spread is None else spread <= 1e3))
    parts += ["", s.images("gradients")]
    return "\n".join(parts)


def section_sine(s: Study) -> str:
    parts = ["## A.2.7 Sine features", ""]
    raw, sine = s.find("sine", sine_features=False), s.find("sine", sine_features=True)
    if not (raw and sine):
        s.check("A.2.7", "sine features beat raw coordinates", None, None)
        s.check("A.2.7", "sine features reach accuracy near 1", None, None)
        return "\n".join(parts + ["Not measured: the `sine` experiment needs both runs."])
    parts.append(f"Same MLP (depth 6, width 16): raw coordinates reach validation accuracy "
                 f"{fmt(raw['final']['val_accuracy'])} (test {fmt(raw['final']['test_accuracy'])}); sin(a·x) "
                 f"features reach {fmt(sine['final']['val_accuracy'])} (test {fmt(sine['final']['test_accuracy'])}).")
    parts.append("")
    parts.append(s.check("A.2.7", "sine features beat raw coordinates",
                         f"validation accuracy {fmt(sine['final']['val_accuracy'])} vs {fmt(raw['final']['val_accuracy'])}",
                         sine["final"]["val_accuracy"] > raw["final"]["val_accuracy"]))
    parts.append(s.check("A.2.7", "sine features reach accuracy near 1 (≥ 0.95)",
                         f"validation accuracy {fmt(sine['final']['val_accuracy'])}", sine["final"]["val_accuracy"] >= 0.95))
    parts += ["", s.images("sine")]
    return "\n".join(parts)


# ------------------------------------------------------------------ Part B
def section_images(s: Study) -> str:
    from engine.figures.images import MODE_LABELS, mode_of, test_accuracy

    parts = ["## B.1 Baselines over learning rates", ""]
    runs = s.runs("baselines")
    if not runs:
        for claim in ("fine-tuning beats linear probing", "linear probing beats training from scratch",
                      "XGBoost on pixels is within 0.05 of the linear probes",
                      "ResNet18 from scratch stays near chance after one epoch (≤ 0.60)"):
            s.check("B.1", claim, None, None)
        return "\n".join(parts + ["Not measured: the `baselines` experiment has no runs."])
    sources = sorted({(r.get("data") or {}).get("source", "") for r in runs})
    weights = sorted({r["weights"]["label"] for r in runs if r.get("weights")})
    parts.append("Data: " + "; ".join(sources) + ".")
    parts.append("")
    parts.append("Pretrained weights: " + ("; ".join(weights) if weights else "none used") + ".")
    parts.append("")
    table = s.out / "baselines" / "lr_table.md"
    if table.is_file():
        text = table.read_text(encoding="utf-8")
        parts += [line for line in text.splitlines() if line.startswith("|")] + [""]
    best: dict[str, float] = {}
    for r in runs:
        acc = test_accuracy(r)
        if acc is not None:
            best[mode_of(r)] = max(best.get(mode_of(r), 0.0), acc)
    parts.append("Learning rates are ranked by test accuracy, as STUDY asks, so the best-of-sweep numbers are "
                 "optimistic; the validation accuracy is in the table beside them.")
    parts.append("")
    parts.append("Best test accuracy per baseline: " + ", ".join(
        f"{MODE_LABELS[m]} {fmt(a)}" for m, a in best.items()) + " (reported: XGBoost 0.73; scratch 0.52–0.57; "
        "linear probe 0.71–0.73; sklearn probe 0.73; fine-tune 0.76–0.87).")
    parts.append("")
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts.append("Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".")
        parts.append("")
    probe = max([best[m] for m in ("linear_probe", "sklearn_probe") if m in best], default=None)

    def both(a: str | None, b: str | None, cmp: Callable[[float, float], bool]):
        if a is None or b is None:
            return None, None
        return f"{a_label(a)} vs {a_label(b)}", cmp(best_or(a), best_or(b))

    def a_label(key: str) -> str:
        return f"{key} {fmt(best_or(key))}"

    def best_or(key: str) -> float:
        return probe if key == "best probe" else best[key]

    def have(key: str) -> str | None:
        if key == "best probe":
            return key if probe is not None else None
        return key if key in best else None

    measured, ok = both(have("finetune"), have("linear_probe"), lambda a, b: a > b)
    parts.append(s.check("B.1", "fine-tuning beats linear probing", measured, ok))
    measured, ok = both(have("best probe"), have("scratch"), lambda a, b: a > b)
    parts.append(s.check("B.1", "linear probing beats training from scratch", measured, ok))
    measured, ok = both(have("xgboost"), have("best probe"), lambda a, b: abs(a - b) <= 0.05)
    parts.append(s.check("B.1", "XGBoost on pixels is within 0.05 of the linear probes", measured, ok))
    parts.append(s.check("B.1", "ResNet18 from scratch stays near chance after one epoch (≤ 0.60)",
                         f"best scratch test accuracy {fmt(best['scratch'])}" if "scratch" in best else None,
                         best["scratch"] <= 0.60 if "scratch" in best else None))
    if any(w.startswith("self-pretrained") for w in weights) or any("STAND-IN" in x for x in sources):
        parts += ["", "*Caveat: these checks ran on the embedded stand-in images and/or self-pretrained (not "
                  "ImageNet) weights; they test the bench's pipeline, not the faces study itself.*"]
    parts += ["", s.images("baselines").replace("![baselines: gallery.png](baselines/gallery.png)", "")]
    return "\n".join(parts)


def section_gallery(s: Study) -> str:
    from engine.io import read_json

    parts = ["## B.2 Gallery", ""]
    gallery = read_json(s.out / "baselines" / "gallery.json")
    if not isinstance(gallery, dict) or "images" not in gallery:
        return "\n".join(parts + ["Not measured: no gallery (it needs finished fine-tuning and scratch runs)."])
    better, worse = gallery["better"], gallery["worse"]
    parts.append(f"{len(gallery['images'])} test images are classified correctly by the best {better['mode']} run "
                 f"({better['run']}, test accuracy {fmt(better['test_accuracy'])}) and wrongly by the best "
                 f"{worse['mode']} run ({worse['run']}, {fmt(worse['test_accuracy'])}). The first five, with "
                 f"P({gallery.get('probabilities_are_of')}):")
    parts += ["", "| file | true label | " + better["mode"] + " | " + worse["mode"] + " |", "|---|---|---|---|"]
    for row in gallery["images"][:5]:
        parts.append(f"| {row['file']} | {row['label']} | {fmt(row['better_prob'], 2)} | {fmt(row['worse_prob'], 2)} |")
    if (s.out / "baselines" / "gallery.png").is_file():
        parts += ["", "![gallery](baselines/gallery.png)"]
    return "\n".join(parts)


# ------------------------------------------------------------------ header
def header(the_plan, summary, s: Study) -> str:
    all_runs = [r for runs in s.records.values() for r in runs]
    env = next((r.get("environment") for r in all_runs if r.get("environment")), {}) or {}
    packages = env.get("packages") or {}
    seeds = sorted({r.get("seed") for r in all_runs if r.get("seed") is not None})
    counts: dict[str, int] = {}
    for r in all_runs:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    part_time = {"A": 0.0, "B": 0.0}
    for r in all_runs:
        part_time["A" if r.get("kind") == "mlp" else "B"] += (r.get("history") or {}).get("wall_time") or 0.0
    sources = sorted({f"{(r.get('data') or {}).get('name')}: {(r.get('data') or {}).get('source')}"
                      for r in all_runs if r.get("data")})
    weights = sorted({r["weights"]["label"] for r in all_runs if r.get("weights")})
    lines = [
        f"# {the_plan.preset.title}", "",
        f"Generated by benchtui from `{the_plan.preset.path}` on "
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Every number below is read from the "
        f"runs in this folder; every sentence is generated from them.", "",
        "| | |", "|---|---|",
        f"| device | {env.get('device_name', '?')} |",
        f"| versions | python {env.get('python', '?')}, " + ", ".join(f"{k} {v}" for k, v in packages.items() if v) + " |",
        f"| git commit | {env.get('git_commit') or 'none'} |",
        f"| seed(s) | {', '.join(map(str, seeds)) or '?'} |",
        f"| runs | " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + " |",
        f"| training time | Part A {part_time['A']:.1f} s, Part B {part_time['B']:.1f} s (sum of run wall times) |",
        f"| this replay | {summary.wall_time:.1f} s (finished runs from earlier replays are reused) |",
        "",
        "**Data used:**", "",
    ]
    lines += [f"- {src}" for src in sources]
    lines += ["", "**Pretrained weights used:** " + ("; ".join(weights) if weights else "none") + ".", ""]
    problems = [r for r in all_runs if r.get("status") not in ("ok",)]
    if problems:
        lines += ["**Runs that did not end ok:** " + "; ".join(
            f"{r.get('experiment')}/{r.get('name')}{status_note(r)}" for r in problems) + ".", ""]
    return "\n".join(lines)


def findings_section(s: Study) -> str:
    lines = ["## Findings", "", "| section | claim (from STUDY) | measured | verdict |", "|---|---|---|---|"]
    for f in s.findings:
        lines.append(f"| {f.section} | {f.claim} | {f.measured} | **{f.verdict}** |")
    tally = {v: sum(f.verdict == v for f in s.findings) for v in (REPRODUCED, NOT_REPRODUCED, NOT_MEASURED)}
    lines += ["", ", ".join(f"{n} {v}" for v, n in tally.items()) + "."]
    return "\n".join(lines)


SECTIONS = [section_lr, section_epochs, section_batchnorm, section_batch_size, section_depth_width,
            section_gradients, section_sine, section_images, section_gallery]


def build_markdown(the_plan, summary, out: Path) -> tuple[str, list[Finding]]:
    s = Study(summary, out)
    body = ["# Part A — MLPs on European cities"]
    for section in SECTIONS:
        if section is section_images:
            body.append("# Part B — Real or fake")
        body.append(section(s))
    text = header(the_plan, summary, s) + "\n" + findings_section(s) + "\n\n" + "\n\n".join(body) + "\n"
    return text, s.findings


def to_html(markdown: str, out: Path, title: str) -> str:
    """A self-contained page: the Markdown rendered, figures inlined."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        path = out / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
             "img{max-width:100%}blockquote{border-left:4px solid #88a;margin:0.6em 0;padding:0.2em 1em;"
             "background:#f4f4fa}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


def write_report(the_plan, summary) -> list[Path]:
    out = Path(the_plan.options.runs_dir) / the_plan.preset.name
    text, findings = build_markdown(the_plan, summary, out)
    write_text(out / "REPORT.md", text)
    write_text(out / "REPORT.html", to_html(text, out, the_plan.preset.title))
    write_json(out / "findings.json", [f.__dict__ for f in findings])
    return [out / "REPORT.md", out / "REPORT.html", out / "findings.json"]
