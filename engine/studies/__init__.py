"""REPORT.md, REPORT.html and findings.json: every study question answered from the runs.

A study is a module listed in ``STUDIES``: it declares a ``LABEL`` ("Part A"),
a ``TITLE``, the ``EXPERIMENTS`` whose records it reads and its ``SECTIONS``
(functions ``Report -> markdown``). A section states its claims through
``Report.check``; each claim is a pure function of the run records that
returns what it measured and a verdict, so a claim that does not reproduce
is reported as such, and tests can feed it hand-made records. The report is
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
from typing import Any, Callable

from engine.config import flatten
from engine.io import write_json, write_text

STUDIES = ["engine.studies.part_a", "engine.studies.part_b", "engine.studies.part_c",  # report order
           "engine.studies.part_c_lab4", "engine.studies.part_c_lab5", "engine.studies.part_c_lab6"]

Records = dict[str, list[dict]]  # experiment name -> its run records (run.json dicts)

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced", "not measured"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_MEASURED)  # the tally's order
SEED_RULE = ("With several seeds, each claim is judged on each seed's runs separately: it is reproduced (or not "
             "reproduced) only when every seed that measured it agrees, and inconclusive when the seeds disagree, "
             "i.e. when the effect is within the seed-to-seed noise. The text shows the first seed's numbers and "
             "the verdict of every seed.")
MISSING = "the runs needed are missing or failed"


@dataclass(frozen=True)
class Outcome:
    """What a claim's check measured, and its verdict."""

    measured: str
    verdict: str


def judge(measured: str | None, ok: bool | None) -> Outcome:
    """The verdict of a measurement; ``None`` for either means there was nothing to judge."""
    if measured is None or ok is None:
        return Outcome(measured or MISSING, NOT_MEASURED)
    return Outcome(measured, REPRODUCED if ok else NOT_REPRODUCED)


@dataclass(frozen=True)
class Claim:
    """One claim of the study and its check: a pure function of the run records.

    Checks only measure; verdicts are made in ``judge`` and claims are judged
    in ``Report.check``, so a further verdict (``inconclusive`` across seeds:
    judge the claim on each seed's records, compare) is added there, not in
    every check.
    """

    section: str
    text: str
    measure: Callable[[Records], Outcome]

    def __call__(self, records: Records) -> Outcome:
        return self.measure(records)


def claim(section: str, text: str) -> Callable[[Callable[[Records], Outcome]], Claim]:
    """Decorator: ``@claim("A.1.1", "...")`` turns a check into a ``Claim``."""
    return lambda measure: Claim(section, text, measure)


@dataclass
class Finding:
    section: str
    claim: str
    measured: str
    verdict: str
    seeds: int = 1  # how many seeds the verdict rests on (0: not measured)


def seeds_of(records: Records) -> list[int]:
    return sorted({r["seed"] for runs in records.values() for r in runs if isinstance(r.get("seed"), int)})


def of_seed(records: Records, seed: int) -> Records:
    """The runs of one seed (runs that record no seed belong to every seed)."""
    return {e: [r for r in runs if r.get("seed", seed) == seed] for e, runs in records.items()}


def judge_over_seeds(claim: "Claim", records: Records) -> tuple[Outcome, int]:
    """The claim's verdict over seeds (see ``SEED_RULE``) and how many seeds measured it."""
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
    per_seed = ", ".join(f"seed {seed}: {o.verdict}" for seed, o in measured.items())
    if len(verdicts) == 1:
        return Outcome(f"seed {first_seed}: {first.measured}; the same in all {len(measured)} seeds", first.verdict), \
            len(measured)
    agree = sum(o.verdict == REPRODUCED for o in measured.values())
    return Outcome(f"seed {first_seed}: {first.measured}; {agree} of {len(measured)} seeds reproduce it ({per_seed})",
                   INCONCLUSIVE), len(measured)


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
        outcome, seeds = judge_over_seeds(claim, self.all_records)
        self.findings.append(Finding(claim.section, claim.text, outcome.measured, outcome.verdict, seeds))
        return f"> **Check — {claim.text}**: {outcome.measured} → **{outcome.verdict}**.\n"

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


def findings_section(findings: list[Finding]) -> str:
    lines = ["## Findings", "", "| section | claim (from STUDY) | measured | seeds | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {f.section} | {f.claim} | {f.measured} | {f.seeds} | **{f.verdict}** |" for f in findings]
    tally = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    lines += ["", ", ".join(f"{n} {v}" for v, n in tally.items()) + "."]
    if any(f.seeds > 1 for f in findings):
        lines += ["", SEED_RULE]
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


def write_report(the_plan, summary) -> list[Path]:
    out = Path(the_plan.options.runs_dir) / the_plan.preset.name
    text, findings = build_markdown(the_plan, summary, out)
    write_text(out / "REPORT.md", text)
    write_text(out / "REPORT.html", to_html(text, out, the_plan.preset.title))
    write_json(out / "findings.json", [asdict(f) for f in findings])
    return [out / "REPORT.md", out / "REPORT.html", out / "findings.json"]
