"""Devices, seeds and the environment record stored in every run."""

from __future__ import annotations

import platform
import random
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from engine.errors import BenchError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("device 'cuda' was asked for but torch sees no CUDA device (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"unknown device '{name}' (use auto, cpu or cuda)")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@lru_cache(maxsize=4)
def _static_environment(extra: tuple[str, ...]) -> dict:
    packages = {}
    names = ["torch", "torchvision", "numpy", "pandas", "scikit-learn"]
    names += [p for p in extra if p not in names]
    for name in names + ["benchtui"]:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit,
    }


def environment(device: torch.device, packages: tuple[str, ...] = ()) -> dict:
    """Where a run trains: python, platform, the versions of the usual
    packages and of ``packages`` (the kinds', given by the caller: this module
    sits below the kinds), the git commit and the device."""
    env = dict(_static_environment(tuple(packages)))
    env["device"] = str(device)
    env["device_name"] = device_name(device)
    env["cuda"] = torch.version.cuda if device.type == "cuda" else None
    return env
