"""Lab 5 (STUDY Part C.5): read the time off analog clocks.

One run = one way of saying the time (``model.head``, see
``engine.models.clocks``) on the shared small CNN, trained with Adam. Every
epoch: the training batches from a seeded permutation, then the loss and the
"common sense" error (minutes, the shorter way round the dial) of every split
in eval mode. The images stay on the device as uint8 and are scaled to
[-1, 1] per batch. ``fit`` writes nothing: the test predictions and the
weights (on the CPU) come back in the ``Fitted``; the kind saves them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from engine import kit
from engine.data.clocks import DIAL_MINUTES, MIN_SIZE, SPLITS, ClockSplits, cyclic_error
from engine.errors import BenchError
from engine.models.clocks import ClockModelConfig, ClockNet, head_label, loss_of, read_minutes
from engine.system import resolve_device, seed_everything


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class ClockDataConfig:
    dataset: Literal["clocks"] = field(default="clocks", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={"help": "folder with images.npy and labels.npy; empty = stand-in"})
    size: int = field(default=150, metadata={"help": "images are (resized to) size x size pixels (course: 150)"})
    n: int = field(default=2000, metadata={"help": "stand-in: clocks rendered (course: 18,000); split 80/10/10"})
    seed: int = field(default=0, metadata={"help": "renders the stand-in and carves the 80/10/10 split"})


@dataclass(frozen=True)
class ClockOptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=64, metadata={"help": "clocks per step"})
    epochs: int = field(default=20, metadata={"help": "passes over the training split"})


@dataclass(frozen=True)
class ClockConfig:
    data: ClockDataConfig = field(default_factory=ClockDataConfig)
    model: ClockModelConfig = field(default_factory=ClockModelConfig)
    optim: ClockOptimConfig = field(default_factory=ClockOptimConfig)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


def check_config(cfg: ClockConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    if not 2 <= cfg.model.classes <= DIAL_MINUTES:
        raise BenchError(f"model.classes must be 2 to {DIAL_MINUTES} (got {cfg.model.classes})", key="model.classes")
    if cfg.model.channels < 1 or cfg.model.hidden < 1:
        raise BenchError(f"model.channels and model.hidden must be at least 1 (got {cfg.model.channels}, "
                         f"{cfg.model.hidden})")
    if cfg.data.size < MIN_SIZE:
        raise BenchError(f"data.size must be at least {MIN_SIZE} (got {cfg.data.size})", key="data.size")
    if cfg.data.n < 10:
        raise BenchError(f"data.n must be at least 10 for the 80/10/10 split (got {cfg.data.n})", key="data.n")
    if cfg.data.seed < 0:
        raise BenchError(f"data.seed must be 0 or more (got {cfg.data.seed})", key="data.seed")
    if cfg.optim.batch_size < 2:
        raise BenchError("the CNN has BatchNorm: optim.batch_size must be at least 2")


# -------------------------------------------------------------------- helpers
def scaled(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (n, h, w) -> float (n, 1, h, w) in [-1, 1]."""
    return x_uint8[:, None].float() / 127.5 - 1.0


@torch.no_grad()
def evaluate(model: ClockNet, cfg: ClockConfig, x: torch.Tensor, labels: torch.Tensor,
             chunk: int = 512) -> tuple[float, np.ndarray]:
    """(mean loss, minutes read per clock) of one split, in eval mode."""
    model.eval()
    total, read = 0.0, []
    for start in range(0, len(x), chunk):
        out = model(scaled(x[start:start + chunk]))
        y = labels[start:start + chunk]
        total += loss_of(cfg.model, out.float(), y[:, 0], y[:, 1]).item() * len(y)
        read.append(read_minutes(cfg.model, out))
    model.train()
    return total / len(x), torch.cat(read).cpu().numpy()


def batch_order(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
    """One epoch's index batches; a last batch of one clock joins the one before (BatchNorm)."""
    batches = list(torch.randperm(n, generator=generator).to(device).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = torch.cat([batches[-1], last])
    return batches


def predictions(data: ClockSplits, read: np.ndarray) -> dict:
    """The test clocks' true and read times and errors (minutes), for run.json and the gallery."""
    true = data.minutes("test")
    errors = cyclic_error(read, true)
    return {"index": list(range(len(true))), "true": [int(v) for v in true],
            "read": [round(float(v), 2) for v in read], "error": [round(float(v), 2) for v in errors]}


# ------------------------------------------------------------------------ fit
def fit(cfg: ClockConfig, data: ClockSplits, session: kit.RunSession) -> kit.Fitted:
    device = resolve_device(cfg.system.device)
    # -- data on the device, model, optimiser (seeded)
    seed_everything(cfg.system.seed)
    generator = torch.Generator().manual_seed(cfg.system.seed)
    x = {s: torch.from_numpy(data.x[s]).to(device) for s in SPLITS}
    labels = {s: torch.from_numpy(data.y[s]).to(device) for s in SPLITS}
    model = ClockNet(cfg.model).to(device)
    optimizer = kit.adam(model.parameters(), lr=cfg.optim.lr)
    n_train = len(labels["train"])
    steps = math.ceil(n_train / cfg.optim.batch_size)
    steps -= 1 if steps > 1 and n_train % cfg.optim.batch_size == 1 else 0  # see batch_order
    session.start(cfg.optim.epochs, steps, device,
                  f"{head_label({'head': cfg.model.head, 'loss': cfg.model.loss, 'classes': cfg.model.classes})}; "
                  f"{data.size} px; " + ", ".join(f"{s} {v}" for s, v in data.sizes().items()))
    extra: dict = {}
    status, message = "ok", ""
    # a run cut short resumes after its last whole epoch (engine.checkpoint)
    first = session.resume_from(model=model, optimizer=optimizer, batches=generator)
    for epoch in range(first + 1, cfg.optim.epochs + 1):
        started = time.perf_counter()
        # -- train one epoch
        batches = batch_order(n_train, cfg.optim.batch_size, generator, device)
        step_losses = torch.empty(len(batches), device=device)
        stopped = False
        model.train()
        for step, idx in enumerate(batches):
            y = labels["train"][idx]
            loss = loss_of(cfg.model, model(scaled(x["train"][idx])), y[:, 0], y[:, 1])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step_losses[step] = loss.detach()
            if session.tick(epoch, step, len(batches)):
                step_losses, stopped = step_losses[: step + 1], True
                break
        # -- evaluate every split
        metrics, read = {}, {}
        for split in SPLITS:
            metrics[f"{split}_loss"], read[split] = evaluate(model, cfg, x[split], labels[split])
            metrics[f"{split}_error"] = float(cyclic_error(read[split], data.minutes(split)).mean())
        extra["clocks"] = {"test": predictions(data, read["test"]),
                           "max_error": {s: float(cyclic_error(read[s], data.minutes(s)).max()) for s in SPLITS},
                           "approach": head_label({"head": cfg.model.head, "loss": cfg.model.loss,
                                                   "classes": cfg.model.classes})}
        # -- record
        finite = session.epoch_end(epoch, metrics, step_losses.tolist(), time.perf_counter() - started)
        if stopped:
            status, message = "stopped", f"stopped by request in epoch {epoch}"
            break
        if not finite:
            status, message = "diverged", f"loss became NaN or infinite in epoch {epoch}"
            break
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return kit.Fitted(status, message, state, extra)
