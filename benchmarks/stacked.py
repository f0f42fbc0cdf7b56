"""Stacked training vs one run after another (STUDY Part A's MLP).

Trains 20 MLPs of the study's default shape (depth 6, width 16; 4 learning
rates x 5 seeds, 50 epochs, batch size 256, Adam) on the embedded cities
default twice in one process on the CPU: once one after another with the
engine (``Kind.train``, the way a replay trains a run alone), once as one
stacked model (``Kind.train_stack``: batched matmuls, per-member learning
rates). Prints both wall times, the largest difference in final validation
accuracy between a run alone and the same run stacked, and a last line
``speedup: <alone / stacked>x``.

    python benchmarks/stacked.py            # 20 runs x 50 epochs
    python benchmarks/stacked.py --quick    # 5 epochs: a smoke run
    python benchmarks/stacked.py --members 1,5,20,50,100   # scale curve (3 epochs unless --epochs)
    python benchmarks/stacked.py --threads 2  # both sides with two torch threads (default: the kind's, 1)

With ``--members`` it prints a scale curve instead: for each stack size
(the first N of learning rates x seeds 1, 2, 3, ... of the default shape)
the seconds per member-epoch stacked and alone (the same N runs one after
another), their ratio and the largest |val accuracy alone - stacked|.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.config import apply_overrides  # noqa: E402
from engine.kinds import get_kind  # noqa: E402

LRS = (0.1, 0.01, 0.001, 0.0001)
SEEDS = (1, 2, 3, 4, 5)


def configs(kind, count: int, epochs: int, threads: int | None = None) -> list:
    """The first ``count`` of learning rates x seeds 1, 2, 3, ... (every rate for a seed, then the next seed)."""
    grid = [(lr, seed) for seed in range(1, count // len(LRS) + 2) for lr in LRS][:count]
    return [apply_overrides(kind.config_type(), {"optim.lr": lr, "system.seed": seed, "optim.epochs": epochs,
                                                 "optim.batch_size": 256, "system.device": "cpu", **threaded(threads)})
            for lr, seed in grid]


def threaded(threads: int | None) -> dict:
    return {} if threads is None else {"system.threads": threads}


def compare(kind, cfgs: list, data) -> tuple[float, float, list, list]:
    """Seconds one after another, seconds stacked, and both result lists."""
    started = time.perf_counter()
    alone = [kind.train(cfg, data) for cfg in cfgs]
    t_alone = time.perf_counter() - started
    started = time.perf_counter()
    stacked = kind.train_stack(cfgs, data, [[] for _ in cfgs])
    return t_alone, time.perf_counter() - started, alone, stacked


def describe(kind, threads: int | None) -> str:
    """How many torch threads the runs use, as the config resolves it."""
    n = kind.config_type().system.threads if threads is None else threads
    return f"system.threads = {n}" + (" (every core)" if n == 0 else "")


def largest_difference(alone: list, stacked: list) -> float:
    return max(abs(a.history["val_accuracy"][-1] - s.history["val_accuracy"][-1]) for a, s in zip(alone, stacked))


def curve(kind, sizes: list[int], epochs: int, data_root: Path, threads: int | None) -> None:
    data = kind.load_data(configs(kind, 1, epochs)[0], data_root)
    print(f"scale curve: MLPs of depth 6, width 16, {epochs} epochs, batch size 256, "
          f"{data.sizes()['train']} training rows, CPU, {describe(kind, threads)}; ms per member-epoch")
    print(f"{'members':>7} {'stacked':>9} {'alone':>9} {'ratio':>7} {'max |dacc|':>11}")
    for size in sizes:
        cfgs = configs(kind, size, epochs, threads)
        t_alone, t_stacked, alone, stacked = compare(kind, cfgs, data)
        per = 1000 / (size * epochs)
        print(f"{size:>7} {t_stacked * per:>9.1f} {t_alone * per:>9.1f} {t_alone / t_stacked:>6.1f}x "
              f"{largest_difference(alone, stacked):>11.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of 50")
    parser.add_argument("--data-root", default="data", help="where the embedded default is cached")
    parser.add_argument("--members", help="comma-separated stack sizes, e.g. 1,5,20,50,100: print a scale curve")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 50, 5 with --quick, 3 with --members)")
    parser.add_argument("--threads", type=int, help="system.threads of every run, alone and stacked "
                                                    "(default: the kind's default; 0 = every core)")
    args = parser.parse_args()
    kind = get_kind("mlp")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1 (got {args.epochs})")
    if args.threads is not None and args.threads < 0:
        parser.error(f"--threads must be 0 (every core) or more (got {args.threads})")
    if args.members is not None:
        try:
            sizes = [int(part) for part in args.members.split(",")]
        except ValueError:
            parser.error(f"--members takes whole numbers separated by commas (got {args.members!r})")
        if not sizes or min(sizes) < 1:
            parser.error(f"--members: every stack size must be at least 1 (got {args.members!r})")
        curve(kind, sizes, args.epochs or 3, Path(args.data_root), args.threads)
        return
    epochs = args.epochs or (5 if args.quick else 50)
    cfgs = [apply_overrides(kind.config_type(), {"optim.lr": lr, "system.seed": seed, "optim.epochs": epochs,
                                                 "optim.batch_size": 256, "system.device": "cpu",
                                                 **threaded(args.threads)})
            for lr in LRS for seed in SEEDS]
    data = kind.load_data(cfgs[0], Path(args.data_root))
    print(f"{len(cfgs)} MLPs (depth 6, width 16), {epochs} epochs, batch size 256, "
          f"{data.sizes()['train']} training rows, CPU, {describe(kind, args.threads)}")

    t_alone, t_stacked, alone, stacked = compare(kind, cfgs, data)
    diffs = [abs(a.history["val_accuracy"][-1] - s.history["val_accuracy"][-1]) for a, s in zip(alone, stacked)]
    print(f"one after another: {t_alone:8.2f} s ({1000 * t_alone / len(cfgs):.0f} ms a run)")
    print(f"stacked:           {t_stacked:8.2f} s ({1000 * t_stacked / len(cfgs):.0f} ms a run)")
    print(f"statuses alone {sorted({r.status for r in alone})}, stacked {sorted({r.status for r in stacked})}")
    print(f"largest |val accuracy alone - stacked|: {max(diffs):.4f} (mean {sum(diffs) / len(diffs):.4f})")
    print(f"speedup: {t_alone / t_stacked:.1f}x")


if __name__ == "__main__":
    main()
