"""The gradient figure: exactly-zero gradients are drawn as zero (a labelled
band below every positive value), not as a tiny positive number."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib import pyplot as plt

from engine.figures import mlp as figures


def record(name: str, grads: list[list[float]]) -> dict:
    return {"name": name, "status": "ok", "history": {"grad_sq_norm": grads}}


@pytest.fixture
def drawn(tmp_path, monkeypatch):
    """Draw the figure and keep its axes for inspection."""
    kept = {}
    real_save = figures.save

    def keep(fig, path):
        kept["fig"] = fig
        return real_save(fig, path)

    monkeypatch.setattr(figures, "save", keep)
    # layer 0 is dead (exactly 0) from epoch 2 on; layer 1 is small but positive
    rec = record("plain", [[1e-6, 1e-9, 1.0], [0.0, 1e-9, 1.0], [0.0, 2e-9, 0.5]])
    files = figures.gradients([rec], tmp_path, {"layers": [0, 1, 2]}, "t", None)
    yield kept["fig"], files
    plt.close(kept["fig"])


def test_zero_gradients_are_a_labelled_band_below_every_positive_value(drawn):
    fig, files = drawn
    assert files and files[0].endswith("gradients.png")
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert any("exactly 0" in label for label in labels)
    bottom, _ = ax.get_ylim()
    plotted = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines])
    finite = plotted[np.isfinite(plotted)]
    assert finite.min() > bottom  # everything drawn is on the axis
    # the zero markers sit below the smallest positive gradient, and nothing is drawn at 1e-30
    zero_marks = [line for line in ax.lines if line.get_marker() == "v"]
    assert len(zero_marks) == 1 and len(zero_marks[0].get_ydata()) == 2
    assert max(zero_marks[0].get_ydata()) < 1e-9
    assert any("layer 0, some epochs exactly 0" == label for label in labels)
    assert finite.min() > 1e-20
    # the dead layer's line has no points at the epochs where it is zero
    layer0 = next(line for line in ax.lines if line.get_label().startswith("layer 0"))
    assert np.isnan(np.asarray(layer0.get_ydata(), float)[1:]).all()


def test_no_band_without_zero_gradients(tmp_path):
    files = figures.gradients([record("r", [[1e-3, 1e-1], [1e-4, 1e-2]])], tmp_path, {"layers": [0, 1]}, "t", None)
    assert files
