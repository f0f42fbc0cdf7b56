"""A run killed in its last epoch: how long its resumed replay takes against a fresh one.

For one run of a torch kind (default: lab 4's CNN on the Fashion-MNIST
stand-in, 8 epochs, CPU, one thread), in one process and one sitting:

  1. a fresh replay into an empty runs folder (timed);
  2. a replay stopped in its last epoch (the stop is set when epoch N-1
     ends, so the checkpoint of epoch N-1 is the last one written);
  3. the replay again, which resumes from that checkpoint (timed).

It prints both times (planning, which loads the data, included, as
``benchtui replay`` does it), their ratio, and checks that the resumed run's
final metrics equal the fresh run's. Timings on a shared machine are noisy:
the ratio of the two, measured back to back, is the number to read.

Run from the repository root:

    python benchmarks/resume.py                      # lab 4 CNN, 8 epochs
    python benchmarks/resume.py --kind clocks --epochs 6
    python benchmarks/resume.py --quick              # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.events import Callback, EpochEnd  # noqa: E402
from engine.preset import load_preset  # noqa: E402
from engine.study import ReplayOptions, plan, replay  # noqa: E402

COMMON = '"system.threads" = 1, "system.device" = "cpu"'
SETTINGS = {
    "mlp_vs_cnn": '"model.arch" = "cnn", "optim.batch_size" = 64, "data.train_per_class" = 100, '
                  '"data.test_per_class" = 50',
    "clocks": '"data.size" = 48, "data.n" = 1200, "optim.batch_size" = 64',
    "generative": '"data.size" = 32, "data.images" = 600, "optim.batch_size" = 32',
    "mlp": '"model.depth" = 6, "model.width" = 16, "optim.batch_size" = 16',
}


class StopAt(Callback):
    def __init__(self, stop: threading.Event, epoch: int):
        self.stop, self.epoch = stop, epoch

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.epoch == self.epoch:
            self.stop.set()


def timed_replay(preset: Path, runs: Path, data_root: Path, stop_at: int | None = None) -> tuple[float, list[str]]:
    started = time.perf_counter()
    the_plan = plan(load_preset(preset), ReplayOptions(runs_dir=runs, data_root=data_root, executor="local"))
    stop, lines = threading.Event(), []
    callbacks = (lambda run: [StopAt(stop, stop_at)]) if stop_at is not None else (lambda run: [])
    replay(the_plan, callbacks, stop, lines.append)
    return time.perf_counter() - started, lines


def final(runs: Path) -> tuple[dict, dict]:
    record = json.loads(next(runs.glob("bench/run/run/run.json")).read_text())
    return {k: v for k, v in record["final"].items() if k != "wall_time"}, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(SETTINGS), default="mlp_vs_cnn")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 epochs: a smoke run")
    args = parser.parse_args()
    epochs = 3 if args.quick else args.epochs
    with tempfile.TemporaryDirectory(prefix="benchtui-resume-") as tmp:
        root = Path(tmp)
        preset = root / "bench.toml"
        preset.write_text(f'name = "bench"\n[[experiment]]\nname = "run"\nkind = "{args.kind}"\n'
                          f'set = {{ {SETTINGS[args.kind]}, "optim.epochs" = {epochs}, {COMMON} }}\n')
        data_root = root / "data"
        timed_replay(preset, root / "warm", data_root, stop_at=1)  # builds the stand-in data once, warms imports
        fresh, _ = timed_replay(preset, root / "fresh", data_root)
        timed_replay(preset, root / "cut", data_root, stop_at=epochs - 1)
        resumed, _ = timed_replay(preset, root / "cut", data_root)
        (a, fresh_record), (b, resumed_record) = final(root / "fresh"), final(root / "cut")
        print(f"kind {args.kind}, {epochs} epochs, CPU, 1 thread; killed in its last epoch")
        print(f"fresh replay:   {fresh:7.2f} s  (training {fresh_record['history']['wall_time']:.2f} s)")
        print(f"resumed replay: {resumed:7.2f} s  (from epoch {resumed_record['resumed']['from_epoch']}; "
              f"the epoch it trained took {resumed_record['history']['epoch_time'][-1]:.2f} s)")
        print(f"ratio resumed / fresh: {resumed / fresh:.2f}")
        print(f"final metrics equal: {a == b}")
        if a != b:
            sys.exit(1)


if __name__ == "__main__":
    main()
