"""REPORT.md, REPORT.html and findings.json: every study question answered from the runs.

A study is a module listed in ``STUDIES``: it declares a ``LABEL`` ("Part A"),
a ``TITLE``, the ``EXPERIMENTS`` whose records it reads and its ``SECTIONS``
(functions ``Report -> markdown``). A section states its claims through
``Report.check``; each claim is a pure function of every seed's run records
(``@claim(section, text, source=, course=, experiments=)``) that measures an
effect with a 95 % interval (``over_seeds``, ``rate``, ``rate_difference``,
``paired_examples``, ``two_samples``) and returns ``measure(text, estimate,
margin, side, unmet=...)``; the verdict follows from one rule (``RULE``,
``decide``), so a claim that does not reproduce is reported as such, and
tests can feed it hand-made records. The report is
rebuilt from the run records on every replay, so a resumed replay gives the
same numbers as an uninterrupted one. Nothing here names an experiment kind
or a dataset: a new study is one module and one line in ``STUDIES``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import importlib
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from engine.config import flatten
from engine.io import write_json, write_text

STUDIES = ["engine.studies.part_a", "engine.studies.part_b", "engine.studies.part_c",  # report order
           "engine.studies.part_c_lab3", "engine.studies.part_c_lab4", "engine.studies.part_c_lab5",
           "engine.studies.part_c_lab6"]

Records = dict[str, list[dict]]  # experiment name -> its run records (run.json dicts)

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced", "not measured"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_MEASURED)  # the tally's order
COURSE, BENCH = "course", "bench"  # a finding's source: a claim of STUDY, or a sanity check the bench adds
LEVEL = 0.95  # every interval's confidence level
RULE = ("**The decision rule.** Each claim measures an effect (a difference of accuracies or losses, a ratio, a rate) "
        "and its 95 % interval, with a statistic that fits the data: over seeds, a t interval of the per-seed "
        "(paired) values; for a rate over many nets, a Wilson interval (for the difference of two rates, "
        "Newcombe's hybrid score interval); for two models on one test set, a paired bootstrap over the test "
        "examples, so a one-seed comparison has an interval too. Each claim states a margin and a side once "
        "(e.g. `effect > 0.02`). It is **reproduced** when the whole interval lies on the claim's side of the "
        "margin, **not reproduced** when the whole interval lies on the other side, or when a stated precondition "
        "fails (a \"best\" needs a unique winner above a floor, \"learns\" a result well above chance, \"slow\" a "
        "loss that fell), **inconclusive** when the interval contains the margin, and **not measured** when its runs "
        "are missing or the preset's budget is too small to judge it.")
MISSING = "the runs needed are missing or failed"


# ------------------------------------------------------------------ statistics (scipy.stats)
@dataclass(frozen=True)
class Estimate:
    """An effect, its 95 % interval, the statistic that gave the interval and n (seeds, nets or examples).

    ``values`` are the per-seed (or per-setting) numbers the effect rests on, shown in the report.
    """

    effect: float
    low: float
    high: float
    statistic: str
    n: int
    values: tuple[float, ...] = ()

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)


def over_seeds(values: Sequence[float], statistic: str = "t interval over seeds") -> Estimate | None:
    """The mean of per-seed values (e.g. paired per-seed differences) and its t interval.

    One seed gives no interval (``(-inf, inf)``: such a claim is inconclusive unless a per-example
    statistic is used instead); identical values give a zero-width interval. None when no value is finite.
    """
    xs = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if xs.size == 0:
        return None
    mean = float(xs.mean())
    if xs.size == 1:
        return Estimate(mean, -math.inf, math.inf, statistic, 1, tuple(xs.tolist()))
    if float(xs.std()) == 0.0:
        return Estimate(mean, mean, mean, statistic, int(xs.size), tuple(xs.tolist()))
    ci = stats.ttest_1samp(xs, 0.0).confidence_interval(LEVEL)
    return Estimate(mean, float(ci.low), float(ci.high), statistic, int(xs.size), tuple(xs.tolist()))


def rate(successes: int, n: int, statistic: str = "Wilson interval") -> Estimate | None:
    """A proportion (a solve rate over nets) and its Wilson interval."""
    if n <= 0:
        return None
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(LEVEL, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high), statistic, int(n))


def rate_difference(k1: int, n1: int, k2: int, n2: int) -> Estimate | None:
    """p1 − p2 of two independent proportions with Newcombe's hybrid score interval (built from Wilson's)."""
    a, b = rate(k1, n1), rate(k2, n2)
    if a is None or b is None:
        return None
    d = a.effect - b.effect
    low = d - math.sqrt((a.effect - a.low) ** 2 + (b.high - b.effect) ** 2)
    high = d + math.sqrt((a.high - a.effect) ** 2 + (b.effect - b.low) ** 2)
    return Estimate(d, low, high, "Newcombe interval of two rates", n1 + n2)


def paired_examples(a: Sequence[float], b: Sequence[float], statistic: str = "paired bootstrap over test examples",
                    resamples: int = 2000, seed: int = 0) -> Estimate | None:
    """mean(a − b) over the same examples (per-example correctness 0/1, errors, losses) and a bootstrap interval.

    Seeded, so the same inputs give the same interval. None when the lengths differ or nothing is left.
    """
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape or xa.size == 0:
        return None
    d = xa - xb
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None
    mean = float(d.mean())
    if d.size == 1 or float(d.std()) == 0.0:
        return Estimate(mean, mean, mean, statistic, int(d.size))
    res = stats.bootstrap((d,), np.mean, confidence_level=LEVEL, n_resamples=resamples, method="percentile",
                          random_state=np.random.default_rng(seed))
    return Estimate(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), statistic,
                    int(d.size))


def two_samples(a: Sequence[float], b: Sequence[float], statistic_fn: Callable = np.median,
                statistic: str = "bootstrap of the difference of medians", resamples: int = 2000,
                seed: int = 0) -> Estimate | None:
    """statistic(a) − statistic(b) of two independent samples (e.g. iterations to solve) and a bootstrap interval."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.size == 0 or xb.size == 0:
        return None
    effect = float(statistic_fn(xa) - statistic_fn(xb))

    def diff(x, y, axis=-1):
        return statistic_fn(x, axis=axis) - statistic_fn(y, axis=axis)

    if xa.size < 2 or xb.size < 2:
        return Estimate(effect, -math.inf, math.inf, statistic, int(xa.size + xb.size))
    res = stats.bootstrap((xa, xb), diff, confidence_level=LEVEL, n_resamples=resamples, method="percentile",
                          random_state=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # degenerate resamples (all equal)
        low = high = effect
    return Estimate(effect, low, high, statistic, int(xa.size + xb.size))


def point(value: float, statistic: str, n: int = 1) -> Estimate:
    """An exact quantity with no sampling noise (e.g. a count over a whole, fixed test set that is the claim)."""
    return Estimate(float(value), float(value), float(value), statistic, n)


def decide(est: Estimate | None, margin: float = 0.0, side: str = ">") -> str:
    """The rule (see ``RULE``): the interval against the claim's margin and side (">" or "<")."""
    if est is None or not (math.isfinite(est.effect) or est.effect in (math.inf, -math.inf)):
        return NOT_MEASURED
    if side not in (">", "<"):
        raise ValueError(f"side must be '>' or '<', not {side!r}")
    low, high = est.low, est.high
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if side == ">":
        return REPRODUCED if low > margin else NOT_REPRODUCED if high <= margin else INCONCLUSIVE
    return REPRODUCED if high < margin else NOT_REPRODUCED if low >= margin else INCONCLUSIVE


@dataclass(frozen=True)
class Outcome:
    """What a claim's check measured, and its verdict (with the effect it rests on, where there is one)."""

    measured: str
    verdict: str
    effect: float | None = None
    interval: tuple[float, float] | None = None
    statistic: str = ""
    n: int = 0
    rule: str = ""  # "effect > 0.02": the claim's side and margin


def fmt_ci(est: Estimate, digits: int = 3) -> str:
    def f(v: float) -> str:
        return "−∞" if v == -math.inf else "∞" if v == math.inf else f"{v:.{digits}f}"
    return f"{f(est.effect)} [{f(est.low)}, {f(est.high)}]"


def measure(text: str, est: Estimate | None, margin: float = 0.0, side: str = ">", *,
            unmet: str | None = None, digits: int = 3, per: str = "seed") -> Outcome:
    """A claim's outcome under the rule: ``text`` says what was measured; ``est`` is the effect.

    ``unmet`` names a precondition of the claim that failed (no unique winner, nothing learned, a loss
    that never fell): the verdict is then *not reproduced*, whatever the interval. ``est`` None: not measured.
    """
    if est is None:
        return Outcome(f"{text}; {MISSING}" if text else MISSING, NOT_MEASURED)
    rule = f"effect {side} {margin:g}"
    shown = f"{text}; effect {fmt_ci(est, digits)} (95 %, {est.statistic}, n = {est.n}; claim: {rule})"
    if est.values:
        shown += f"; per {per}: " + ", ".join(f"{v:.{digits}f}" for v in est.values)
    verdict = decide(est, margin, side)
    if unmet:
        shown += f"; {unmet}"
        verdict = NOT_REPRODUCED
    interval = (est.low, est.high)
    return Outcome(shown, verdict, est.effect, interval, est.statistic, est.n, rule)


def not_measured(reason: str = MISSING) -> Outcome:
    return Outcome(reason, NOT_MEASURED)


def judge(measured: str | None, ok: bool | None) -> Outcome:
    """Deprecated yes/no verdict (no effect, no interval): judged per seed by ``judge_over_seeds``.

    Kept only while claims move to ``measure``; a finding judged this way has statistic "per-seed yes/no".
    """
    if measured is None or ok is None:
        return Outcome(measured or MISSING, NOT_MEASURED)
    return Outcome(measured, REPRODUCED if ok else NOT_REPRODUCED)


@dataclass(frozen=True)
class Claim:
    """One claim and its check: a pure function of the run records (every seed's).

    ``source`` is ``course`` (a claim in STUDY; ``course`` gives the course's own figure, shown beside the
    bench's) or ``bench`` (a sanity check the bench adds). ``experiments`` are the experiments whose runs it
    reads: the finding's ``data`` is described from their records. A check returns ``measure(...)``
    (effect, interval, rule) or ``not_measured(reason)``.
    """

    section: str
    text: str
    measure: Callable[[Records], Outcome]
    source: str = COURSE
    course: str = ""
    experiments: tuple[str, ...] = ()

    def __call__(self, records: Records) -> Outcome:
        return self.measure(records)


def claim(section: str, text: str, *, source: str = COURSE, course: str = "",
          experiments: Sequence[str] = ()) -> Callable[[Callable[[Records], Outcome]], Claim]:
    """Decorator: ``@claim("A.1.1", "...", source="course", course="...", experiments=("lr",))``."""
    if source not in (COURSE, BENCH):
        raise ValueError(f"claim {section} '{text}': source must be '{COURSE}' or '{BENCH}', not {source!r}")
    return lambda fn: Claim(section, text, fn, source, course, tuple(experiments))


@dataclass
class Finding:
    section: str
    claim: str
    measured: str
    verdict: str
    seeds: int = 1  # how many seeds the claim's runs have (0: not measured)
    source: str = COURSE  # course | bench
    data: str = ""  # what the runs read: "<dataset>: <source>", "[stand-in]" marked
    effect: float | None = None
    interval: list[float] | None = None  # [low, high], 95 %
    statistic: str = ""
    n: int = 0  # what the interval rests on: seeds, nets or test examples
    course: str = ""  # the course's own figure, where STUDY gives one
    rule: str = ""
    standin: bool = False  # the runs read a labelled stand-in (a pipeline check, not the course's result)


def is_standin(record: dict) -> bool:
    data = record.get("data") or {}
    return bool(data.get("standin") or data.get("stand_in")) or "stand-in" in str(data.get("source", "")).lower()


def describe_data(records: Records, experiments: Sequence[str]) -> tuple[str, bool]:
    """A short description of what these experiments' runs read, and whether any of it is a stand-in."""
    seen: dict[str, bool] = {}
    for e in experiments:
        for r in records.get(e, []):
            data = r.get("data") or {}
            if not data:
                continue
            standin = is_standin(r)
            source = str(data.get("source", "")).strip()
            short = source if len(source) <= 70 else source[:67] + "…"
            seen[f"{data.get('name', e)}: {short}" + (" [stand-in]" if standin and "stand-in" not in
                                                       short.lower() else "")] = standin
    return "; ".join(sorted(seen)), any(seen.values())


def seeds_of(records: Records) -> list[int]:
    return sorted({r["seed"] for runs in records.values() for r in runs if isinstance(r.get("seed"), int)})


def of_seed(records: Records, seed: int) -> Records:
    """The runs of one seed (runs that record no seed belong to every seed)."""
    return {e: [r for r in runs if r.get("seed", seed) == seed] for e, runs in records.items()}


def per_seed(records: Records, value: Callable[[Records], float | None]) -> dict[int, float | None]:
    """``value`` computed on each seed's runs separately (one entry when the runs record no seed)."""
    seeds = seeds_of(records)
    if not seeds:
        return {0: value(records)}
    return {seed: value(of_seed(records, seed)) for seed in seeds}


def judge_over_seeds(claim: "Claim", records: Records) -> tuple[Outcome, int]:
    """Deprecated: a yes/no check (``judge``) judged on each seed; reproduced only when every seed agrees."""
    seeds = seeds_of(records)
    if len(seeds) <= 1:
        outcome = claim(records)
        return outcome, 0 if outcome.verdict == NOT_MEASURED else 1
    outcomes = {seed: claim(of_seed(records, seed)) for seed in seeds}
    measured = {seed: o for seed, o in outcomes.items() if o.verdict != NOT_MEASURED}
    if not measured:
        return outcomes[seeds[0]], 0
    first_seed, first = next(iter(measured.items()))
    verdicts = {o.verdict for o in measured.values()}
    if len(measured) == 1:
        return Outcome(f"{first.measured} (only seed {first_seed} measured it)", first.verdict), 1
    per = ", ".join(f"seed {seed}: {o.verdict}" for seed, o in measured.items())
    if len(verdicts) == 1:
        return Outcome(f"seed {first_seed}: {first.measured}; the same in all {len(measured)} seeds", first.verdict), \
            len(measured)
    agree = sum(o.verdict == REPRODUCED for o in measured.values())
    return Outcome(f"seed {first_seed}: {first.measured}; {agree} of {len(measured)} seeds reproduce it ({per})",
                   INCONCLUSIVE), len(measured)


def judge_claim(claim: "Claim", records: Records) -> Finding:
    """The finding of one claim on every seed's records (the rule: ``RULE``)."""
    outcome = claim(records)
    exps = claim.experiments or tuple(records)
    seeds = len(seeds_of({e: usable(records, e) for e in exps})) or (1 if any(usable(records, e) for e in exps)
                                                                       else 0)
    if not outcome.statistic and outcome.verdict != NOT_MEASURED:  # a yes/no check not yet moved to ``measure``
        outcome, seeds = judge_over_seeds(claim, records)
        outcome = Outcome(outcome.measured, outcome.verdict, statistic="per-seed yes/no (no interval)",
                          n=seeds)
    if outcome.verdict == NOT_MEASURED:
        seeds = 0
    data, standin = describe_data(records, exps)
    interval = list(outcome.interval) if outcome.interval is not None else None
    return Finding(claim.section, claim.text, outcome.measured, outcome.verdict, seeds, claim.source, data,
                   outcome.effect, interval, outcome.statistic, outcome.n, claim.course, outcome.rule, standin)


# ------------------------------------------------------------------ record look-ups
def usable(records: Records, experiment: str) -> list[dict]:
    """Runs that finished with final metrics (diverged runs included: they are results too)."""
    return [r for r in records.get(experiment, []) if r.get("status") in ("ok", "diverged") and r.get("final")]


def find(records: Records, experiment: str, **values: Any) -> dict | None:
    """The first run whose config has these leaf values (``lr=1.0, batchnorm=False``)."""
    return next(iter(select(records, experiment, **values)), None)


def select(records: Records, experiment: str, **values: Any) -> list[dict]:
    """Every usable run whose config has these leaf values."""
    return [r for r in usable(records, experiment)
            if all(_leaf(flatten(r["config"]), k) == v for k, v in values.items())]


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


# ------------------------------------------------------------------ the report
class Report:
    """The replay's records and figures, and the findings checked so far."""

    def __init__(self, summary, out: Path):
        self.all_records: Records = summary.records  # every seed: what claims are judged on
        seeds = seeds_of(self.all_records)
        # the text and tables of a section show one seed's runs (the first); findings use every seed
        self.records: Records = of_seed(self.all_records, seeds[0]) if len(seeds) > 1 else self.all_records
        self.figures: dict[str, list[str]] = summary.figures
        self.out = out
        self.findings: list[Finding] = []

    def usable(self, experiment: str) -> list[dict]:
        return usable(self.records, experiment)

    def find(self, experiment: str, **values: Any) -> dict | None:
        return find(self.records, experiment, **values)

    def figure_links(self, experiment: str) -> str:
        return "\n\n".join(f"![{experiment}: {name}]({experiment}/{name})"
                           for name in self.figures.get(experiment, []) if name.endswith(".png"))

    def check(self, claim: Claim) -> str:
        """Judge ``claim`` on the records, keep the finding, and return its line for the text."""
        f = judge_claim(claim, self.all_records)
        self.findings.append(f)
        origin = "course claim" if f.source == COURSE else "bench check"
        course = f" (the course: {f.course})" if f.course else ""
        standin = " *(on a stand-in: a pipeline check, not the course's result)*" if f.standin else ""
        return f"> **{origin} — {claim.text}**{course}: {f.measured} → **{f.verdict}**{standin}.\n"

    def check_quietly(self, *claims: Claim) -> None:
        """Judge claims whose section says once that its runs are missing: findings only, no lines."""
        for c in claims:
            self.check(c)


def studies(records: Records) -> list[ModuleType]:
    """The registered studies whose experiments this replay ran, in registry order."""
    modules = [importlib.import_module(name) for name in STUDIES]
    return [m for m in modules if any(e in records for e in m.EXPERIMENTS)]


def training_time(records: Records, experiments: list[str]) -> float:
    """Seconds spent training these experiments' runs (sum of their wall times)."""
    # runs that trained together (stacked) share one wall time: each counts its share
    return sum(((r.get("history") or {}).get("wall_time") or 0.0) / ((r.get("stack") or {}).get("size") or 1)
               for e in experiments for r in records.get(e, []))


def header(the_plan, summary, report: Report, present: list[ModuleType]) -> str:
    all_runs = [r for runs in report.all_records.values() for r in runs]
    env = next((r.get("environment") for r in all_runs if r.get("environment")), {}) or {}
    packages = env.get("packages") or {}
    seeds = sorted({r.get("seed") for r in all_runs if r.get("seed") is not None})
    counts: dict[str, int] = {}
    for r in all_runs:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    per_label: dict[str, float] = {}  # studies that share a label (Part C's labs) count once
    for m in present:
        per_label[m.LABEL] = per_label.get(m.LABEL, 0.0) + training_time(report.all_records, m.EXPERIMENTS)
    times = [f"{label} {seconds:.1f} s" for label, seconds in per_label.items()]
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
        f"| seed(s) | {', '.join(map(str, seeds)) or '?'}"
        + (f" (the sections' text and tables show seed {seeds[0]}; figures the mean and spread; findings every seed)"
           if len(seeds) > 1 else "") + " |",
        "| runs | " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + " |",
        f"| training time | {', '.join(times) or 'none'} (sum of run wall times) |",
        f"| this replay | {summary.wall_time:.1f} s (finished runs from earlier replays are reused) |",
        "",
        "**Data used:**", "",
    ]
    lines += [f"- {src}" for src in sources]
    lines += ["", "**Pretrained weights used:** " + ("; ".join(weights) if weights else "none") + ".", ""]
    problems = [r for r in all_runs if r.get("status") != "ok"]
    if problems:
        lines += ["**Runs that did not end ok:** " + "; ".join(
            f"{r.get('experiment')}/{r.get('name')}{status_note(r)}" for r in problems) + ".", ""]
    return "\n".join(lines)


GROUPS = (("Course claims on real-format data", lambda f: f.source == COURSE and not f.standin),
          ("Course claims on stand-ins (pipeline checks: the pipeline runs, not the course's result)",
           lambda f: f.source == COURSE and f.standin),
          ("Bench checks (sanity checks the bench adds; not claims of the course)", lambda f: f.source == BENCH))


def tally(findings: list[Finding]) -> str:
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def findings_section(findings: list[Finding]) -> str:
    lines = ["## Findings", "", RULE, ""]
    lines += [f"- **{title.split(' (')[0]}**: {len(group)} — {tally(group)}."
              for title, keep in GROUPS for group in [[f for f in findings if keep(f)]]]
    for title, keep in GROUPS:
        group = [f for f in findings if keep(f)]
        if not group:
            continue
        lines += ["", f"### {title}", "",
                  "| section | claim | the course | data | measured | effect [95 % interval] | n | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for f in group:
            eff = "—" if f.effect is None or f.interval is None else \
                fmt_ci(Estimate(f.effect, f.interval[0], f.interval[1], f.statistic, f.n))
            lines.append(f"| {f.section} | {_cell(f.claim)} | {_cell(f.course) or '—'} | {_cell(f.data) or '—'} | "
                         f"{_cell(f.measured)} | {eff} | {f.n or '—'} | **{f.verdict}** |")
        lines += ["", tally(group) + "."]
    return "\n".join(lines)


def build_markdown(the_plan, summary, out: Path) -> tuple[str, list[Finding]]:
    report = Report(summary, out)
    present = studies(report.all_records)
    body = []
    for study in present:
        body.append(f"# {study.TITLE}")
        body += [section(report) for section in study.SECTIONS]
    text = (header(the_plan, summary, report, present) + "\n" + findings_section(report.findings) + "\n\n"
            + "\n\n".join(body) + "\n")
    from engine.timings import appendix  # issue 24: where the replay's time went, read from timings.json

    text += appendix(out)
    return text, report.findings


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


def finding_json(f: Finding) -> dict:
    """A finding as findings.json holds it: an interval that is not finite on both ends is null (one seed)."""
    out = asdict(f)
    if out["interval"] is not None and not all(math.isfinite(v) for v in out["interval"]):
        out["interval"] = None
    if out["effect"] is not None and not math.isfinite(out["effect"]):
        out["effect"] = None
    return out


def write_report(the_plan, summary) -> list[Path]:
    out = Path(the_plan.options.runs_dir) / the_plan.preset.name
    text, findings = build_markdown(the_plan, summary, out)
    write_text(out / "REPORT.md", text)
    write_text(out / "REPORT.html", to_html(text, out, the_plan.preset.title))
    write_json(out / "findings.json", [finding_json(f) for f in findings])
    return [out / "REPORT.md", out / "REPORT.html", out / "findings.json"]
