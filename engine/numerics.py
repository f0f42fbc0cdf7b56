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


class _FlushAfterLoading(importlib.abc.Loader):
    """torch's own loader, and ``flush_denormals`` once it has run."""

    def __init__(self, loader, finder: "_AfterTorchImport"):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def __getattr__(self, name):  # get_filename, get_resource_reader, is_package...: torch's loader's own
        return getattr(self.loader, name)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        self.finder.remove()
        flush_denormals()


class _AfterTorchImport(importlib.abc.MetaPathFinder):
    """Finds ``torch`` with the other finders and hands back its spec with
    a loader that flushes denormals once torch has loaded; it then leaves
    ``sys.meta_path``. A spec asked for without an import (``find_spec``)
    leaves it in place, so the real import still flushes."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _FlushAfterLoading(spec.loader, self)
                return spec
        return None

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:  # another thread's import got there first
            pass


def flush_denormals_when_torch_loads() -> None:
    """Flush denormals now if torch is loaded, else right after it loads.
    It must happen before torch's first parallel operation starts its
    OpenMP workers (they inherit the setting): ``import engine`` before any
    torch work, as every entry point of the bench does."""
    if "torch" in sys.modules:
        flush_denormals()
    elif not any(isinstance(finder, _AfterTorchImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterTorchImport())
