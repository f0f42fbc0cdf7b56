"""Live plotext charts. Each chart owns its data and a ``replot()``; the
screen calls ``replot`` from a timer (about 4 Hz) only when data changed.
Losses are drawn as log10(loss) on a linear axis; long histories are
downsampled."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

MAX_POINTS = 400
# one colour per run, in the order runs start: the Monitor's rows show the same
# colour as a swatch, so the plot needs no legend (plotext's covers the plot)
PALETTE = (33, 196, 46, 208, 201, 51, 226, 141, 250, 130)


def colour(index: int) -> int:
    return PALETTE[index % len(PALETTE)]


def downsample(xs: list[float], ys: list[float], limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    if len(xs) <= limit:
        return xs, ys
    step = len(xs) / limit
    picks = [int(i * step) for i in range(limit)] + [len(xs) - 1]
    return [xs[i] for i in picks], [ys[i] for i in picks]


def log10(values: list[float]) -> list[float]:
    return [math.log10(v) if v and v > 0 and math.isfinite(v) else float("nan") for v in values]


class SeriesChart(PlotextPlot):
    """Several named series of (x, y) points."""

    def __init__(self, title: str, xlabel: str, ylabel: str, log_y: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.title, self.xlabel, self.ylabel, self.log_y = title, xlabel, ylabel, log_y
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.colours: dict[str, int] = {}  # series -> 256-colour code; by order of appearance when not given
        self.dirty = True

    def clear_series(self) -> None:
        self.series.clear()
        self.colours.clear()
        self.dirty = True

    def extend(self, name: str, xs: list[float], ys: list[float], colour_code: int | None = None) -> None:
        if name not in self.series:
            self.colours[name] = colour(len(self.series)) if colour_code is None else colour_code
        old_x, old_y = self.series.setdefault(name, ([], []))
        old_x.extend(xs)
        old_y.extend(ys)
        self.dirty = True

    def set_series(self, name: str, xs: list[float], ys: list[float]) -> None:
        self.colours.setdefault(name, colour(len(self.series)))
        self.series[name] = (list(xs), list(ys))
        self.dirty = True

    def on_mount(self) -> None:
        self.replot()

    def replot(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel(self.xlabel)
        plt.ylabel(("log10 " if self.log_y else "") + self.ylabel)
        for name, (xs, ys) in self.series.items():
            xs_d, ys_d = downsample(xs, log10(ys) if self.log_y else ys)
            points = [(x, y) for x, y in zip(xs_d, ys_d) if math.isfinite(y)]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], color=self.colours[name], marker="braille")
        self.refresh()
