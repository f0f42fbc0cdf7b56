"""benchtui's engine: data, models, trainers and the run store.

Nothing in this package imports textual or click, so it can be driven from a
script, a test, the CLI or the TUI alike.
"""

from engine.allocator import keep_freed_memory
from engine.errors import BenchError

keep_freed_memory()  # every process that imports the engine (driver, workers, TUI) reuses freed blocks

__all__ = ["BenchError"]
