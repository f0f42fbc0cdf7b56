"""Flush denormal floats to zero on the CPU, in every thread torch computes on.

Numbers below 2^-126 (denormals) make x86 arithmetic take a slow microcode
path: a squared gradient in Adam's second moment decays into that range,
so does a softmax term far below its row's largest and the backward
gradients it feeds. Stacked MLP training spent a quarter of its time there
(20 runs, 3 epochs: 2.0 -> 1.5 s with denormals flushed). Flushing them
(FTZ and DAZ: results and inputs below 2^-126 count as zero) changes no
number that matters here: where a denormal would have been added to a
weight, a moment's square root plus Adam's 1e-8, or a softmax sum of at
least 1, the result rounds to the same float.

The setting belongs to each thread, and a thread inherits its creator's:
torch's OpenMP workers start at its first parallel operation, so it must be
set before that, in the thread that starts them. ``import engine`` arranges
it: at once where torch is imported already, otherwise right after torch's
own import (a one-shot import hook, so importing the engine does not import
torch, which takes a second and a half).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys


def flush_denormals() -> bool:
    """Set FTZ/DAZ in this thread (and so in the threads it starts); False
    where the CPU has no such mode (torch says so)."""
    import torch

    return bool(torch.set_flush_denormal(True))


class _AfterTorchImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``torch`` is first imported, it wraps the
    real loader so that ``flush_denormals`` runs once torch has loaded, then
    removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module) -> None:
            load(module)
            flush_denormals()

        spec.loader.exec_module = exec_module
        return spec


def flush_denormals_when_torch_loads() -> None:
    if "torch" in sys.modules:
        flush_denormals()
    elif not any(isinstance(finder, _AfterTorchImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterTorchImport())
