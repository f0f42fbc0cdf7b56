"""Mid-run checkpoints: a run killed at epoch 9 of 10 resumes at epoch 10.

A trainer names the objects that carry its state between epochs, once,
just before its first epoch::

    first = session.resume_from(model=model, optimizer=optimizer, batches=generator)
    for epoch in range(first + 1, cfg.optim.epochs + 1):
        ...

``resume_from`` restores them (and the global random states and the
history) when the run has a checkpoint, and returns the last epoch it
holds (0 when the run starts afresh). From then on ``session.epoch_end``
packs a checkpoint after every whole epoch that ended well, where one of
the run's listeners wants it (``Callback.wants_checkpoints``; not the last
one: a finished run needs none; not an epoch cut short by a stop; not a
diverged one) and sends it as bytes in the ``EpochEnd`` event, so that it
travels from a worker process or a Ray trial with the epoch's events, the
way models travel. On the driver, ``CheckpointWriter`` (one of the run's
listeners, beside its ``RunWriter``) writes it atomically as
``checkpoint.pt`` in the run folder; the replay removes it once the run
has finished, unless ``--keep-checkpoints``.

A checkpoint holds: each named object's state (``state_dict()``, or a
``torch.Generator``'s state), the torch (CPU and CUDA), numpy and Python
random states, the history so far, the seconds trained so far, the
config's hash and the epoch. It is a ``torch.save`` file of tensors and
plain values, read with ``weights_only=True`` (no code runs on load).
Anchors: Lightning's ``ckpt_path="last"``, Ray Tune's trial checkpoints.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.events import Callback, EpochEnd
from engine.io import atomic_path

FILE = "checkpoint.pt"
FORMAT = 2  # 2: fused Adam and channels-last conv nets; a checkpoint of an earlier format is not resumed


@dataclass(frozen=True)
class Saved:
    """A checkpoint found in a run folder, as the driver sees it."""

    epoch: int  # the last whole epoch it holds
    epochs: int  # the run's planned epochs
    history: dict  # the history up to ``epoch``
    elapsed: float  # seconds trained up to ``epoch``
    payload: bytes  # the file's bytes, handed to the trainer
    diverged: bool = False  # a stack's member that diverged in ``epoch`` (it keeps its place in the stack)


# ------------------------------------------------------------- random states
def rng_states() -> dict[str, Any]:
    """torch (CPU and, when in use, CUDA), numpy and Python random states as tensors and plain values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        "numpy": (name, torch.from_numpy(np.asarray(keys, np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


# ---------------------------------------------------------- objects' states
def state_of(obj: Any) -> Any:
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    return obj.state_dict()


def load_state(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


def pack(*, config_hash: str, epoch: int, epochs: int, elapsed: float, history: dict,
         objects: dict[str, Any], diverged: bool = False) -> bytes:
    """One run's checkpoint at the end of ``epoch``, as bytes (``diverged``:
    the run diverged in this epoch; only a stack's member is saved then)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config_hash": config_hash, "epoch": epoch, "epochs": epochs,
                "diverged": diverged, "elapsed": elapsed, "history": history, "rng": rng_states(),
                "state": {name: state_of(obj) for name, obj in objects.items()}}, buffer)
    return buffer.getvalue()


def unpack(payload: bytes) -> dict:
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def restore(checkpoint: dict, objects: dict[str, Any]) -> None:
    """Load each named object's state and the random states (in that order:
    loading a state must not be followed by any draw)."""
    state = checkpoint["state"]
    missing = sorted(set(objects) - set(state))
    if missing:
        raise ValueError(f"the checkpoint has no state for {', '.join(missing)}")
    for name, obj in objects.items():
        load_state(obj, state[name])
    set_rng_states(checkpoint["rng"])


# ------------------------------------------------------------- driver side
def path_of(run_dir: Path) -> Path:
    return Path(run_dir) / FILE


def find(run_dir: Path, config_hash: str) -> tuple[Saved | None, str]:
    """The run folder's checkpoint if it was written for this config, and
    why not otherwise ("" when there is none at all)."""
    path = path_of(run_dir)
    if not path.is_file():
        return None, ""
    try:
        payload = path.read_bytes()
        checkpoint = unpack(payload)
        epoch, epochs = int(checkpoint["epoch"]), int(checkpoint["epochs"])
        history, elapsed, found_hash = checkpoint["history"], float(checkpoint["elapsed"]), checkpoint["config_hash"]
        diverged = bool(checkpoint.get("diverged", False))
    except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint: the run starts afresh, and says why
        return None, f"{path} is unreadable ({type(exc).__name__}: {exc}); the run starts from epoch 0"
    if found_hash != config_hash:
        return None, f"{path} was written for another config; the run starts from epoch 0"
    if checkpoint.get("format") != FORMAT:  # its optimiser and tensor layouts are not this code's
        return None, (f"{path} was written by an earlier version of the bench (checkpoint format "
                      f"{checkpoint.get('format')}, this one writes {FORMAT}); the run starts from epoch 0")
    return Saved(epoch, epochs, history, elapsed, payload, diverged), ""


def discard(run_dir: Path) -> None:
    path_of(run_dir).unlink(missing_ok=True)


def resumed_record(saved: Saved) -> dict:
    """What run.json says of a resumed run."""
    return {"from_epoch": saved.epoch, "of_epochs": saved.epochs, "seconds_before": round(saved.elapsed, 3)} \
        | ({"diverged": True} if saved.diverged else {})


class CheckpointWriter(Callback):
    """The driver's listener that writes each epoch's checkpoint (atomically) in the run folder."""

    wants_checkpoints = True

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.checkpoint is not None:
            with atomic_path(path_of(self.run_dir)) as tmp:
                tmp.write_bytes(event.checkpoint)
