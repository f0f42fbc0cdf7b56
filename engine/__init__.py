"""benchtui's engine: data, models, trainers and the run store.

Nothing in this package imports textual or click, so it can be driven from a
script, a test, the CLI or the TUI alike.
"""

from engine.errors import BenchError

__all__ = ["BenchError"]
