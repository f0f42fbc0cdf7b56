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


def truecolor(code: int) -> str:
    """The 256-colour ``code`` as ``#rrggbb``: what plotext's curves in that
    colour look like. (Textual draws a ``color(N)`` style in the default
    colour, so swatches and legends use this.)"""
    from rich.color import Color

    return Color.from_ansi(code).get_truecolor().hex


def chart_title(kind, what) -> tuple[str, str, str]:
    """(title, x label, y label) of a chart of ``what``: the kind's
    ``StepChart`` or one of its metrics' names (plotted per epoch). Short,
    so that a half-width chart at 80 columns keeps its title."""
    if isinstance(what, str):
        metric = kind.metric(what)
        unit = f" ({metric.unit})" if metric.unit else ""
        return f"{metric.short}{unit} / epoch", "epoch", metric.short + unit
    return f"{what.y} / {what.x}", what.x, what.y


def downsample(xs: list[float], ys: list[float], limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    if len(xs) <= limit:
        return xs, ys
    step = len(xs) / limit
    picks = [int(i * step) for i in range(limit)] + [len(xs) - 1]
    return [xs[i] for i in picks], [ys[i] for i in picks]


def log10(values: list[float]) -> list[float]:
    return [math.log10(v) if v and v > 0 and math.isfinite(v) else float("nan") for v in values]


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """At most about ``count`` round numbers (1, 2 or 5 times a power of ten
    apart) from lo to hi; whole numbers only when ``integer`` (epochs, steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if (hi - lo) / (m * power) <= count)
    if integer:
        step = max(1, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    """Short and exact enough: 1200 -> 1.2k, 3.0 -> 3, 0.0123 -> 0.0123."""
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}"


def log_ticks(lo: float, hi: float) -> list[float]:
    """Positions (log10 of the value) of 1-2-5 values between 10**lo and 10**hi;
    evenly spaced ones when the range is too narrow for two of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    picks = [math.log10(m * 10.0 ** d) for d in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in (1, 2, 5)]
    picks = [p for p in picks if lo - 1e-9 <= p <= hi + 1e-9]
    if len(picks) > 6:
        picks = [p for p in picks if abs(p - round(p)) < 1e-9] or picks[::3]
    if len(picks) < 2:
        picks = [lo + (hi - lo) * i / 3 for i in range(4)] if hi > lo else [lo]
    return picks


class SeriesChart(PlotextPlot):
    """Several named series of (x, y) points."""

    ALLOW_MAXIMIZE = True  # z on a screen with charts shows one of them full-size

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

    def set_series(self, name: str, xs: list[float], ys: list[float], colour_code: int | None = None) -> None:
        self.colours[name] = colour(len(self.series)) if colour_code is None else colour_code
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
        width = max(4, (self.size.width or 80) - 4)  # plotext drops a title wider than the chart: cut it instead
        plt.title(self.title if len(self.title) <= width else self.title[: width - 1] + "…")
        plt.xlabel(self.xlabel)
        # losses are drawn as log10 on a linear axis, and their ticks read as the losses themselves
        plt.ylabel(self.ylabel + (" (log scale)" if self.log_y else ""))
        all_x, all_y = [], []
        for name, (xs, ys) in self.series.items():
            xs_d, ys_d = downsample(xs, log10(ys) if self.log_y else ys)
            points = [(x, y) for x, y in zip(xs_d, ys_d) if math.isfinite(y)]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], color=self.colours[name], marker="braille")
                all_x += [p[0] for p in points]
                all_y += [p[1] for p in points]
        if all_x:
            xticks = nice_ticks(min(all_x), max(all_x), integer=all(float(x).is_integer() for x in all_x))
            plt.xticks(xticks, [tick_label(x) for x in xticks])
            if self.log_y:
                yticks = log_ticks(min(all_y), max(all_y))
                plt.yticks(yticks, [tick_label(10 ** y) for y in yticks])
            else:
                yticks = nice_ticks(min(all_y), max(all_y))
                plt.yticks(yticks, [tick_label(y) for y in yticks])
        self.refresh()


def zoom_next(screen) -> None:
    """Maximise the screen's first chart, then the next, then none (z cycles;
    escape also restores)."""
    charts = list(screen.query(SeriesChart))
    if not charts:
        return
    index = charts.index(screen.maximized) + 1 if screen.maximized in charts else 0
    if index < len(charts):
        screen.maximize(charts[index], container=False)
    else:
        screen.minimize()
