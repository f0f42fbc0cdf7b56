"""Keep freed memory in the process instead of handing it back to the OS.

torch allocates every CPU tensor with malloc and frees it when the tensor
dies; glibc serves large blocks with fresh ``mmap``s and trims the heap's
top, so a training step that makes a few hundred-kilobyte tensors touches
fresh pages every time: up to several hundred page faults a step, which in
a virtual machine cost more than the step's arithmetic (a stacked MLP step
took 2.2 to 4.8 ms depending on how many it got). Fixing glibc's
thresholds (the documented ``mallopt`` knobs, as ``MALLOC_MMAP_THRESHOLD_``
and ``MALLOC_TRIM_THRESHOLD_`` would) lets freed blocks be reused. Numbers do
not change; where the C library is not glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit: blocks under 32 MB come from the heap
TRIM_THRESHOLD = 1 << 30  # the heap's free top is handed back once it passes 1 GB


def keep_freed_memory() -> bool:
    """Set glibc's thresholds; False where there is no glibc ``mallopt`` or
    where the user set them already (``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_``: theirs stand)."""
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already has
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_set = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    trim_set = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return mmap_set and trim_set
