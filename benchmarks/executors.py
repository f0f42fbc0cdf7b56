"""Executors compared: ``presets/mlp.toml`` (STUDY Part A) replayed with
``local``, ``processes`` and ``ray`` in one process, each on a fresh runs
folder (a temporary directory), on the CPU.

Each replay is the bench's own default behaviour for that executor: runs
that stack (same shape and batch schedule) train together as one unit of
work, as they do with ``local``; ``processes`` and ``ray`` spread the units
(23 in this preset) over ``--workers`` (default: one per core). Prints each
wall time (planning with the cached data included, figures included),
whether every run's final metrics are identical to ``local``'s, and a last
line ``speedup: <ratio>x`` for the best executor over ``local``.

    python benchmarks/executors.py                        # the whole preset, three times
    python benchmarks/executors.py --only sine --only lr  # a part of it (a smoke run)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.executors import cores  # noqa: E402
from engine.preset import load_preset  # noqa: E402
from engine.study import ReplayOptions, plan, replay  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executors", default="local,processes,ray", help="comma-separated, local first")
    parser.add_argument("--only", action="append", default=[], metavar="EXPERIMENT", help="a part of the preset")
    parser.add_argument("--workers", type=int, default=None, help="processes/ray workers (default: one per core)")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "data"), help="where the embedded default is cached")
    args = parser.parse_args()
    names = [n.strip() for n in args.executors.split(",") if n.strip()]
    preset = load_preset(REPO_ROOT / "presets" / "mlp.toml")
    print(f"presets/mlp.toml{' --only ' + ' '.join(args.only) if args.only else ''}: {cores()} cores, "
          f"device cpu, workers {args.workers or 'one per core'}")

    times: dict[str, float] = {}
    finals: dict[str, dict] = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"benchtui-{name}-") as runs:
            started = time.perf_counter()
            the_plan = plan(preset, ReplayOptions(runs_dir=Path(runs), data_root=Path(args.data_root), device="cpu",
                                                  only=args.only, executor=name, workers=args.workers))
            summary = replay(the_plan)
            times[name] = time.perf_counter() - started
        finals[name] = {f"{exp}/{r['name']}": (r["status"], {k: v for k, v in r["final"].items() if k != "wall_time"})
                        for exp, records in summary.records.items() for r in records}
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
        same = "" if name == names[0] else f"; final metrics identical to {names[0]}: {finals[name] == finals[names[0]]}"
        print(f"{name:10s} {times[name]:8.1f} s  ({len(finals[name])} runs: {counts}){same}", flush=True)
    base = names[0]
    others = [n for n in names if n != base]
    if others:
        best = min(others, key=lambda n: times[n])
        print(f"best: {best}, {times[base]:.1f} s -> {times[best]:.1f} s")
        print(f"speedup: {times[base] / times[best]:.2f}x")


if __name__ == "__main__":
    main()
