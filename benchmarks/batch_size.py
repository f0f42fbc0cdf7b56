"""Wall time of STUDY A.1 question 4: naive course-style training vs the engine.

Trains the Part A MLP (depth 6, width 16, ReLU, Adam lr 1e-3, cross-entropy) on
the embedded cities data at batch sizes 1, 16, 128 and 1024 for 1, 10, 50 and
50 epochs, twice in one process, on the CPU:

  * baseline: a per-sample ``Dataset`` and ``DataLoader(shuffle=True)``, with
    train, validation and test evaluated through DataLoaders every epoch (at
    the training batch size), default torch thread settings;
  * engine: ``engine.trainers.mlp.fit`` (through the kind registry) (tensors resident, one seeded
    permutation per epoch, fused Adam, one thread).

Both time the whole training, per-epoch evaluation included, and the script
prints per batch size the seconds, their ratio and the final accuracies, then
the totals and a last line ``speedup: <total baseline / total engine>x``.
On a 2-core machine the baseline's default two threads make its times jumpy
(an occasional run several times slower); compare a few runs.

Run from the repository root:

    python benchmarks/batch_size.py            # the full question (~20 s on 2 idle cores)
    python benchmarks/batch_size.py --quick    # epochs 1, 2, 5, 5: a smoke run
    python benchmarks/batch_size.py --seed 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.config import apply_overrides  # noqa: E402
from engine.data.mlp import CitySplits, load_cities  # noqa: E402
from engine.models.mlp import MLP, MLPConfig, Standardize  # noqa: E402
from engine.kinds import get_kind  # noqa: E402
from engine.trainers.mlp import MLPTrainConfig  # noqa: E402

EPOCHS_PER_BATCH_SIZE = {1: 1, 16: 10, 128: 50, 1024: 50}
QUICK_EPOCHS_PER_BATCH_SIZE = {1: 1, 16: 2, 128: 5, 1024: 5}
SPLITS = ("train", "validation", "test")


# ------------------------------------------------------------------ baseline
class CityPoints(Dataset):
    """One (coordinates, label) pair per index, as course code writes it."""

    def __init__(self, x, y):
        self.x = torch.as_tensor(x)
        self.y = torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    for xb, yb in loader:
        correct += (model(xb).argmax(1) == yb).sum().item()
        total += len(yb)
    model.train()
    return correct / total


def train_baseline(data: CitySplits, batch_size: int, epochs: int, seed: int) -> tuple[float, dict]:
    """Seconds and final accuracy per split of the naive loop."""
    started = time.perf_counter()
    datasets = {s: CityPoints(data.x[s], data.y[s]) for s in SPLITS}
    train_loader = DataLoader(datasets["train"], batch_size=batch_size, shuffle=True)
    eval_loaders = {s: DataLoader(datasets[s], batch_size=batch_size) for s in SPLITS}

    torch.manual_seed(seed)
    model = MLP(MLPConfig(), n_inputs=data.x["train"].shape[1], n_classes=data.num_classes)
    if isinstance(model.features, Standardize):
        model.features.fit(datasets["train"].x)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    for _ in range(epochs):
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        accuracies = {s: accuracy(model, loader) for s, loader in eval_loaders.items()}
    return time.perf_counter() - started, accuracies


# -------------------------------------------------------------------- engine
def train_engine(data: CitySplits, batch_size: int, epochs: int, seed: int) -> tuple[float, dict, int]:
    """Seconds, final accuracy per split and iterations per epoch of the engine."""
    cfg = apply_overrides(MLPTrainConfig(), {
        "optim.batch_size": batch_size, "optim.epochs": epochs,
        "system.device": "cpu", "system.seed": seed,
    })
    started = time.perf_counter()
    result = get_kind("mlp").train(cfg, data)
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise SystemExit(f"engine run at batch size {batch_size} ended {result.status}: {result.message}")
    history = result.history
    accuracies = {s: history[f"{key}_accuracy"][-1] for s, key in zip(SPLITS, ("train", "val", "test"))}
    return seconds, accuracies, history["iterations_per_epoch"]


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="epochs 1, 2, 5, 5 (smoke run)")
    parser.add_argument("--seed", type=int, default=42, help="torch seed for both runs (default 42)")
    args = parser.parse_args()

    epochs_per_batch_size = QUICK_EPOCHS_PER_BATCH_SIZE if args.quick else EPOCHS_PER_BATCH_SIZE
    data = load_cities(None, cache_dir=REPO_ROOT / "data/cache/cities")
    print(f"cities: {data.sizes()}, {data.num_classes} classes; torch {torch.__version__}, "
          f"default threads {torch.get_num_threads()} (baseline), engine uses 1; seed {args.seed}")

    header = (f"{'batch':>6} {'epochs':>6} {'it/ep':>6} {'base s':>8} {'engine s':>8} {'ratio':>6}"
              f"  {'val acc base/engine':>19}  {'test acc base/engine':>20}")
    print(header)
    print("-" * len(header))
    total_baseline = total_engine = 0.0
    for batch_size, epochs in epochs_per_batch_size.items():
        base_s, base_acc = train_baseline(data, batch_size, epochs, args.seed)
        engine_s, engine_acc, iterations = train_engine(data, batch_size, epochs, args.seed)
        total_baseline += base_s
        total_engine += engine_s
        print(f"{batch_size:>6} {epochs:>6} {iterations:>6} {base_s:>8.2f} {engine_s:>8.2f} "
              f"{base_s / engine_s:>5.1f}x  {base_acc['validation']:>9.3f} / {engine_acc['validation']:.3f}"
              f"  {base_acc['test']:>10.3f} / {engine_acc['test']:.3f}", flush=True)
    print("-" * len(header))
    print(f"total: baseline {total_baseline:.2f} s, engine {total_engine:.2f} s")
    print(f"speedup: {total_baseline / total_engine:.1f}x")


if __name__ == "__main__":
    main()
