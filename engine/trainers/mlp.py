"""Train the STUDY Part A MLP on the cities table.

The data lives on the device as tensors; every epoch draws batches from one
seeded permutation (no per-sample Dataset/DataLoader). Values are read off
the device only at the end of an epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from engine import kit
from engine.data.mlp import CitySplits
from engine.errors import BenchError
from engine.models.mlp import MLP, MLPConfig, Standardize
from engine.system import resolve_device, seed_everything

SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class DataConfig:
    dataset: Literal["cities"] = field(default="cities", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={"help": "folder with the CSVs; empty = embedded default"})


@dataclass(frozen=True)
class OptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})


@dataclass(frozen=True)
class SystemConfig(kit.SystemConfig):
    threads: int = field(default=1, metadata={
        "help": "CPU threads for torch; 0 = every core (1 is fastest for these tiny matrices)"})
    record_grads: bool = field(default=False, metadata={"help": "record ||grad||^2 per Linear layer each step"})


@dataclass(frozen=True)
class MLPTrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    system: SystemConfig = field(default_factory=SystemConfig)


# -------------------------------------------------------------------- helpers
def check_config(cfg: MLPTrainConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    m = cfg.model
    if m.sine_features and not m.sine_scales:
        raise BenchError("model.sine_scales is empty: sine features need at least one scale")
    if m.depth < 1 or m.width < 1:
        raise BenchError(f"model.depth and model.width must be at least 1 (got {m.depth}, {m.width})")
    if m.batchnorm and cfg.optim.batch_size == 1:
        raise BenchError(
            "BatchNorm cannot train with batch_size 1: the batch variance of one example is zero "
            "(set model.batchnorm=false or a larger optim.batch_size)"
        )


def make_batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device,
                 merge_singleton: bool) -> list[torch.Tensor]:
    """Index batches of one epoch from a seeded permutation. With BatchNorm a
    trailing batch of one example is merged into the previous batch."""
    order = torch.randperm(n, generator=generator).to(device)
    batches = list(order.split(batch_size))
    if merge_singleton and len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = torch.cat([batches[-1], last])
    return batches


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole split, in eval mode."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(x), chunk):
        logits = model(x[start : start + chunk])
        target = y[start : start + chunk]
        loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    model.train()
    return loss_sum.item() / len(x), correct.item() / len(x)


def build_model(cfg: MLPTrainConfig, data: CitySplits) -> MLP:
    return MLP(cfg.model, n_inputs=data.x["train"].shape[1], n_classes=data.num_classes)


def load_model(cfg: MLPTrainConfig, n_inputs: int, n_classes: int, state: dict) -> MLP:
    model = MLP(cfg.model, n_inputs=n_inputs, n_classes=n_classes)
    model.load_state_dict(state)
    return model.eval()


# ------------------------------------------------------------------------ fit
def fit(cfg: MLPTrainConfig, data: CitySplits, session: kit.RunSession) -> kit.Fitted:
    device = resolve_device(cfg.system.device)
    seed_everything(cfg.system.seed)
    generator = torch.Generator().manual_seed(cfg.system.seed)

    # data: every split resident on the device
    x = {SPLIT_KEYS[s]: torch.as_tensor(data.x[s], device=device) for s in data.x}
    y = {SPLIT_KEYS[s]: torch.as_tensor(data.y[s], device=device) for s in data.y}
    n_train = len(x["train"])

    # model and optimiser (fused Adam: one kernel per step on CPU and CUDA)
    model = build_model(cfg, data).to(device)
    if isinstance(model.features, Standardize):
        model.features.fit(x["train"])
    optimizer = torch.optim.Adam(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, fused=True
    )
    layers = model.linear_layers()
    steps_per_epoch = len(make_batches(n_train, cfg.optim.batch_size, torch.Generator().manual_seed(0),
                                       torch.device("cpu"), cfg.model.batchnorm))

    def log_epoch(epoch: int, step_losses: list[float], seconds: float, grads: list[float] | None) -> bool:
        """Evaluate every split and record; False on divergence."""
        metrics = {}
        for split in ("train", "val", "test"):
            metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, x[split], y[split])
        return session.epoch_end(epoch, metrics, step_losses, seconds, grads)

    session.start(cfg.optim.epochs, steps_per_epoch, device)
    log_epoch(0, [], 0.0, None)  # the untrained model, for the curves' first point
    for epoch in range(1, cfg.optim.epochs + 1):
        epoch_start = time.perf_counter()
        batches = make_batches(n_train, cfg.optim.batch_size, generator, device, cfg.model.batchnorm)
        step_losses = torch.empty(len(batches), device=device)
        grad_acc = torch.zeros(len(layers), device=device) if cfg.system.record_grads else None
        stopped = False

        # forward / backward / step, no host sync
        for step, idx in enumerate(batches):
            logits = model(x["train"][idx])
            loss = nn.functional.cross_entropy(logits, y["train"][idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_acc is not None:
                grad_acc += torch.stack([
                    layer.weight.grad.pow(2).sum() + layer.bias.grad.pow(2).sum() for layer in layers
                ])
            optimizer.step()
            step_losses[step] = loss.detach()
            if session.tick(epoch, step, len(batches)):
                step_losses, stopped = step_losses[: step + 1], True
                break

        # log: the one sync point of the epoch
        grads = (grad_acc / len(step_losses)).tolist() if grad_acc is not None else None
        finite = log_epoch(epoch, step_losses.tolist(), time.perf_counter() - epoch_start, grads)
        if stopped:
            return kit.Fitted("stopped", f"stopped by request in epoch {epoch}", model)
        if not finite:
            return kit.Fitted("diverged", f"loss became NaN or infinite in epoch {epoch}", model)
    return kit.Fitted("ok", "", model)
