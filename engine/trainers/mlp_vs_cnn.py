"""Lab 4 (STUDY Part C.4): an MLP or a CNN on Fashion-MNIST or CIFAR-10.

Adam on the cross-entropy, mini-batches from a seeded permutation per
epoch. Images stay on the device as uint8 and are scaled per batch to
[0, 1], then standardised per channel with the training split's mean and
standard deviation. After each epoch the loss and accuracy of every split
(train, validation, test) are measured in eval mode on the whole split. The
CNN is channels-last on every device (max-pooling is vectorised along the
channels there); on CUDA, bf16 autocast when ``system.amp``. Nothing is
written here: the model comes back as a CPU ``state_dict`` and the kind
saves it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from engine import kit
from engine.data.mlp_vs_cnn import SPLITS, ImageSet
from engine.errors import BenchError
from engine.models.mlp_vs_cnn import NetConfig, build, count_parameters
from engine.system import resolve_device, seed_everything


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class DataConfig:
    dataset: Literal["fashion_mnist", "cifar10"] = field(default="fashion_mnist", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={
        "help": "fashion_mnist: the four IDX .gz files; cifar10: cifar-10-batches-py/; empty = embedded stand-in"})
    train_per_class: int = field(default=600, metadata={
        "help": "training images per class before the validation split (stand-in: drawn; a folder: at most)"})
    test_per_class: int = field(default=100, metadata={"help": "test images per class (stand-in: drawn; a folder: at most)"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of the training images held out for validation"})
    seed: int = field(default=42, metadata={"help": "seeds the stand-in's drawings, the caps and the validation split"})


@dataclass(frozen=True)
class OptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=64, metadata={"help": "images per step"})
    epochs: int = field(default=10, metadata={"help": "passes over the training split"})


@dataclass(frozen=True)
class SystemConfig(kit.SystemConfig):
    amp: bool = field(default=True, metadata={"help": "bf16 autocast on CUDA (CPU: fp32); the CNN is channels-last "
                                                      "everywhere"})


@dataclass(frozen=True)
class MLPvsCNNConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    system: SystemConfig = field(default_factory=SystemConfig)


def check_config(cfg: MLPvsCNNConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    d, m = cfg.data, cfg.model
    if d.train_per_class < 2 or d.test_per_class < 1:
        raise BenchError(f"data.train_per_class must be at least 2 and data.test_per_class at least 1 "
                         f"(got {d.train_per_class}, {d.test_per_class})")
    if not 0 < d.val_fraction < 1:
        raise BenchError(f"data.val_fraction must be between 0 and 1 (got {d.val_fraction})")
    if m.arch == "mlp" and (not m.hidden or min(m.hidden) < 1):
        raise BenchError(f"model.hidden needs at least one layer of at least 1 unit (got {m.hidden})")
    if m.arch == "cnn" and (not m.channels or min(m.channels) < 1 or m.dense < 1):
        raise BenchError(f"model.channels needs at least one layer of at least 1 channel and model.dense at "
                         f"least 1 unit (got {m.channels}, {m.dense})")


# -------------------------------------------------------------------- helpers
class Batches:
    """uint8 images on the device -> standardised float batches."""

    def __init__(self, train: torch.Tensor, device: torch.device, amp: bool, channels_last: bool = False):
        pixels = train.float().div_(255).transpose(0, 1).reshape(train.shape[1], -1)
        self.mean = pixels.mean(1).view(1, -1, 1, 1)
        self.std = pixels.std(1).clamp_min(1e-3).view(1, -1, 1, 1)
        self.cuda_amp = amp and device.type == "cuda"
        self.channels_last = channels_last or self.cuda_amp

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() / 255 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda_amp)


EVAL_CHUNK = 256  # images a forward pass in evaluation: feature maps that stay in cache (1,000: 1.8x slower)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, prep: Batches,
             chunk: int = EVAL_CHUNK) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a split, in eval mode."""
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for start in range(0, len(x), chunk):
        with prep.autocast():
            logits = model(prep(x[start:start + chunk])).float()
        yb = y[start:start + chunk]
        loss += nn.functional.cross_entropy(logits, yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    model.train()
    return loss.item() / len(x), correct.item() / len(x)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, prep: Batches, chunk: int = EVAL_CHUNK) -> list[int]:
    """The predicted class of every image of a split, in eval mode (what a paired test over examples needs)."""
    model.eval()
    out = []
    for start in range(0, len(x), chunk):
        with prep.autocast():
            out.append(model(prep(x[start:start + chunk])).float().argmax(1).cpu())
    model.train()
    return torch.cat(out).tolist() if out else []


# ------------------------------------------------------------------------ fit
def fit(cfg: MLPvsCNNConfig, data: ImageSet, session: kit.RunSession) -> kit.Fitted:
    # setup: the device, the data as uint8 tensors, the seeded model and batch order
    device = resolve_device(cfg.system.device)
    seed_everything(cfg.system.seed)
    x = {s: torch.from_numpy(data.x[s]).to(device) for s in SPLITS}
    y = {s: torch.from_numpy(data.y[s]).to(device) for s in SPLITS}
    # the CNN channels-last everywhere: its 2x2 max-pooling is vectorised along the channels there (8x faster
    # on the CPU than channels-first, where it was 40 % of a run); a step of the default-sized CNN 18.0 -> 10.8 ms
    prep = Batches(x["train"], device, cfg.system.amp, channels_last=cfg.model.arch == "cnn")
    model = build(cfg.model, data.shape, data.num_classes).to(device)
    if prep.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = kit.adam(model.parameters(), lr=cfg.optim.lr)
    generator = torch.Generator().manual_seed(cfg.system.seed)
    n = len(x["train"])
    steps = -(-n // cfg.optim.batch_size)
    stand = "stand-in " if data.standin else ""
    session.start(cfg.optim.epochs, steps, device,
                  f"{cfg.model.arch} on {stand}{data.name}, {count_parameters(model):,} parameters")
    status, message = "ok", ""
    # a run cut short resumes after its last whole epoch (engine.checkpoint)
    first = session.resume_from(model=model, optimizer=optimizer, batches=generator)

    for epoch in range(first + 1, cfg.optim.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        losses = torch.empty(steps, device=device)
        done = 0
        # train: forward, backward, step; losses stay on the device until the epoch ends
        for step, idx in enumerate(order.split(cfg.optim.batch_size)):
            with prep.autocast():
                logits = model(prep(x["train"][idx]))
            loss = nn.functional.cross_entropy(logits.float(), y["train"][idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
            done = step + 1
            if session.tick(epoch, step, steps):
                status, message = "stopped", f"stopped by request in epoch {epoch}"
                break
        # evaluate every split, then log the epoch
        metrics = {}
        for split in SPLITS:
            metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, x[split], y[split], prep)
        if not session.epoch_end(epoch, metrics, losses[:done].tolist(), time.perf_counter() - started):
            status, message = "diverged", f"loss became NaN or infinite in epoch {epoch}"
        if status != "ok":
            break

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    extra = {"mlp_vs_cnn": {"arch": cfg.model.arch, "dataset": data.name, "parameters": count_parameters(model),
                            "image_shape": list(data.shape), "standin": data.standin,
                            "normalise": {"mean": prep.mean.flatten().tolist(), "std": prep.std.flatten().tolist()},
                            # per test image (the final weights): for a paired test of two models over one test set
                            "test_predictions": predict(model, x["test"], prep),
                            "test_labels": y["test"].cpu().tolist()}}
    return kit.Fitted(status, message, model=state, extra=extra)
