"""benchtui's engine: data, models, trainers and the run store.

Nothing in this package imports textual or click, so it can be driven from a
script, a test, the CLI or the TUI alike.
"""

from engine.allocator import keep_freed_memory
from engine.errors import BenchError

keep_freed_memory()  # every process that trains (driver, workers) reuses freed blocks: see engine/allocator.py

__all__ = ["BenchError"]
