"""benchtui's engine: data, models, trainers and the run store.

Nothing in this package imports textual or click, so it can be driven from a
script, a test, the CLI or the TUI alike.
"""

from engine.allocator import keep_freed_memory
from engine.errors import BenchError
from engine.numerics import flush_denormals_when_torch_loads

keep_freed_memory()  # every process that imports the engine (driver, workers, TUI) reuses freed blocks
flush_denormals_when_torch_loads()  # denormal floats count as zero in every thread torch computes on

__all__ = ["BenchError"]
