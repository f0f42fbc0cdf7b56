"""Monitor: a progress bar per run, live charts, device, and the log."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ProgressBar, RichLog, Static

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive

from benchtui import messages
from benchtui.widgets.charts import SeriesChart, chart_title, colour, truecolor, zoom_next
from engine.kinds import KINDS, Kind


def device_line() -> str:
    import torch

    if torch.cuda.is_available():
        used = torch.cuda.memory_allocated() / 2**20
        total = torch.cuda.get_device_properties(0).total_memory / 2**20
        return f"device: {torch.cuda.get_device_name(0)}  GPU memory {used:,.0f} / {total:,.0f} MiB"
    return f"device: cpu ({torch.get_num_threads()} threads)"


def duration(seconds: float) -> str:
    """A short, readable duration: 42s, 3m05s, 2h07m, 3d04h."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def shorten_name(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters, never cut to ambiguity: the
    values of ``key=value`` parts are what tells runs apart, so keys are
    shortened first (``batchnorm=true`` -> ``bat…=true``), then the middle
    of the whole name is cut (its start and end kept)."""
    if len(name) <= width or width <= 0:
        return name
    head, sep, tail = name.rpartition("/")
    parts = tail.split(",")
    for keep in (6, 4, 3, 2, 1):
        short_parts = []
        for part in parts:
            key, eq, value = part.partition("=")
            short_parts.append(f"{key[:keep]}…={value}" if eq and len(key) > keep + 1 else part)
        short = ",".join(short_parts)
        for candidate in (f"{head}{sep}{short}", short):
            if len(candidate) <= width:
                return candidate
    values = ",".join(part.partition("=")[2] or part for part in parts)  # the values alone, in order
    if len(values) <= width:
        return values
    short = values
    if width < 3:
        return short[:width]
    left = (width - 1) // 2
    return short[:left] + "…" + short[len(short) - (width - 1 - left):]


def swatch(colour_code: int, text: str = "■") -> Text:
    """A run's colour as its curves show it (a 256-colour code given as RGB:
    Textual renders an 8-bit ``color(N)`` style in the default colour)."""
    return Text(text, style=Style(color=truecolor(colour_code)))


class RunName(Static):
    """A run's name, shortened to the width it gets (see ``shorten_name``)."""

    DEFAULT_CSS = "RunName { width: 1fr; height: 1; text-wrap: nowrap; }"

    def __init__(self, name: str, **kwargs):
        super().__init__(**kwargs)
        self.full = name

    def render(self) -> Text:
        return Text(shorten_name(self.full, self.size.width or len(self.full)))


class RunRow(Horizontal):
    """One run: its colour swatch (its curves' colour), its name first, its
    status and primary metric, its progress bar, then its ETA while it runs
    and its wall time once ended. What changes is reactive."""

    DEFAULT_CSS = """
    RunRow { height: 1; }
    RunRow .run-swatch { width: 2; }
    RunRow .run-info { width: 22; text-wrap: nowrap; text-overflow: ellipsis; padding: 0 0 0 1; }
    RunRow ProgressBar { width: auto; }
    RunRow Bar { width: 10; }
    RunRow .run-eta { width: 10; padding: 0 0 0 1; }
    """

    status: reactive[str] = reactive("running")
    shown: reactive[str] = reactive("")  # the primary metric, as shown
    epoch: reactive[int] = reactive(0)

    def __init__(self, run_id: str, total: int, colour_code: int):
        super().__init__()
        self.run_id, self.total, self.colour_code = run_id, max(1, total), colour_code
        self.started = time.monotonic()
        self.ended = False
        self.swatch = Label(swatch(colour_code, "■ "), classes="run-swatch")
        self.label = RunName(run_id, classes="run-label")
        self.info = Label("", classes="run-info")
        self.bar = ProgressBar(total=self.total, show_eta=False, show_percentage=False)
        self.eta = Label("", classes="run-eta")

    def compose(self) -> ComposeResult:
        yield self.swatch
        yield self.label
        yield self.info
        yield self.bar
        yield self.eta

    def on_mount(self) -> None:
        self.show_info()

    def watch_status(self) -> None:
        self.show_info()

    def watch_shown(self) -> None:
        self.show_info()

    def watch_epoch(self) -> None:
        self.show_info()

    def show_info(self) -> None:
        style = {"ok": "green", "diverged": "yellow", "pruned": "magenta", "running": ""}.get(self.status, "red")
        status = f"ep {self.epoch}" if self.status == "running" and self.epoch else self.status
        self.info.update(Text.assemble((status, style), f" {self.shown}"))

    def advance(self, done: int) -> None:
        """Progress in steps; the ETA is the mean pace so far times what is left."""
        if self.ended:
            return
        self.bar.update(progress=done)
        elapsed = time.monotonic() - self.started
        if done > 0 and elapsed > 0:
            self.eta.update(f"ETA {duration(elapsed / done * (self.total - min(done, self.total)))}")

    def end(self, status: str, wall_time: float) -> None:
        """An ended run shows how long it took; its ETA no longer counts."""
        self.ended = True
        if status == "ok":
            self.bar.update(progress=self.total)
        self.status = status
        self.eta.update(f"took {duration(wall_time)}")


class RunList(VerticalScroll):
    """The run rows; when its height changes (rows mounted, the terminal
    resized) the line under it says again which runs are in view."""

    def on_resize(self) -> None:
        self.call_after_refresh(self.screen.show_counts)


class MonitorScreen(Screen):
    """The sweep as it runs. Engine events arrive as messages (the TUI sink
    posts them here); the sweep's status is the app's reactive
    ``sweep_status``, watched; the charts redraw at about 4 Hz."""

    SUB_TITLE = "Monitor"
    BINDINGS = [
        Binding("x", "stop", "stop sweep", show=False),
        Binding("c", "clear", "clear charts", show=False),
        Binding("z", "zoom", "zoom chart"),
        Binding("l", "list", "run list", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="monitor"):
            yield Static("", id="sweep-status")
            yield Static(device_line(), id="device")
            yield RunList(id="run-rows")
            yield Static("", id="run-counts")
            with Horizontal(id="charts"):
                yield SeriesChart("loss / step", "step", "loss", log_y=True, id="step-chart")
                yield SeriesChart("primary metric / epoch", "epoch", "", id="epoch-chart")
            yield RichLog(id="log", max_lines=2000, wrap=True, markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reset()
        self.watch(self.app, "sweep_status", self.show_status)
        self.watch(self.query_one("#run-rows"), "scroll_y", lambda: self.show_counts())
        self.set_interval(0.25, self.replot)  # the charts' redraw: cheap when nothing changed
        self.set_interval(2.0, self.update_device)

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_counts)

    def reset(self) -> None:
        """A new sweep: its rows and curves only (earlier sweeps are on the Runs screen)."""
        self.rows: dict[str, RunRow] = {}
        self.steps: dict[str, int] = {}
        self.kinds: dict[str, Kind | None] = {}
        self.query_one("#run-rows", VerticalScroll).remove_children()
        for chart in self.query(SeriesChart):
            chart.clear_series()
        self.show_counts()

    def replot(self) -> None:
        for chart in self.query(SeriesChart):
            chart.replot()

    def update_device(self) -> None:
        self.query_one("#device", Static).update(device_line())

    def show_status(self, text: str) -> None:
        self.query_one("#sweep-status", Static).update(Text(text))

    def show_counts(self) -> None:
        """How many runs the list holds, which are in view, and how many are above and below."""
        rows = self.query_one("#run-rows", VerticalScroll)
        total = len(self.rows)
        line = self.query_one("#run-counts", Static)
        if not total:
            line.update("")
            return
        seen = max(1, rows.scrollable_content_region.height)
        first = int(rows.scroll_y)
        last = min(total, first + seen)
        if first == 0 and last >= total:
            line.update(Text(f"{total} run{'s' if total != 1 else ''}", style="dim"))
            return
        above = f"▲ {first} above" if first else ""
        below = f"▼ {total - last} below" if total > last else ""
        where = " · ".join(p for p in (f"runs {first + 1}–{last} of {total}", above, below) if p)
        line.update(Text.assemble((where, "bold"), ("  (l: to the list, then ↑↓)", "dim")))

    # ------------------------------------------------------------ events in
    def on_sweep_started(self, message: messages.SweepStarted) -> None:
        self.reset()

    def on_log_line(self, message: messages.LogLine) -> None:
        """Engine lines are plain text (never parsed as markup); the bench's own may be styled."""
        self.query_one("#log", RichLog).write(Text(message.text, style=message.style))

    def log_line(self, text: str, style: str = "") -> None:
        self.query_one("#log", RichLog).write(Text(text, style=style))

    def on_run_started(self, message: messages.RunStarted) -> None:
        e = message.event
        self.kinds[e.run_id] = KINDS.get(e.kind)
        kind = self.kinds[e.run_id]
        if kind is not None:  # the charts say what the kind that runs now plots
            step_chart = self.query_one("#step-chart", SeriesChart)
            step_chart.title, step_chart.xlabel, step_chart.ylabel = chart_title(kind, kind.step_chart)
            step_chart.log_y = kind.step_chart.log
            epoch_chart = self.query_one("#epoch-chart", SeriesChart)
            epoch_chart.title, epoch_chart.xlabel, epoch_chart.ylabel = chart_title(kind, kind.primary)
            step_chart.dirty = epoch_chart.dirty = True
        row = RunRow(e.run_id, e.epochs * e.steps_per_epoch, colour(len(self.rows)))
        self.rows[e.run_id] = row
        self.steps[e.run_id] = e.steps_per_epoch
        self.query_one("#run-rows", VerticalScroll).mount(row)
        self.call_after_refresh(self.show_counts)
        self.log_line(f"{e.run_id}: started on {e.device}" + (f" ({e.note})" if e.note else ""))

    def on_step_progress(self, message: messages.StepProgress) -> None:
        e = message.event
        if e.run_id in self.rows:
            self.rows[e.run_id].advance((e.epoch - 1) * e.steps_per_epoch + e.step)

    def on_epoch_ended(self, message: messages.EpochEnded) -> None:
        e = message.event
        m = dict(e.metrics)
        short = e.run_id.split("/", 1)[-1]
        kind = self.kinds.get(e.run_id)
        primary = kind.primary_metric if kind is not None else None
        row = self.rows.get(e.run_id)
        if row is not None:
            row.advance(e.epoch * self.steps.get(e.run_id, 0))
            row.epoch = e.epoch
            row.shown = f"{primary.short} {primary.format(m.get(primary.name))}" if primary else ""
        step_chart = self.query_one("#step-chart", SeriesChart)
        start = len(step_chart.series.get(short, ([], []))[0])
        index = list(self.rows).index(e.run_id) if e.run_id in self.rows else 0
        step_chart.extend(short, list(range(start + 1, start + 1 + len(e.step_losses))), list(e.step_losses),
                          colour(index))
        if primary is not None and primary.name in m:
            self.query_one("#epoch-chart", SeriesChart).extend(short, [e.epoch], [m[primary.name]], colour(index))

    def on_run_ended(self, message: messages.RunEnded) -> None:
        e = message.event
        row = self.rows.get(e.run_id)
        if row is not None:
            row.end(e.status, e.wall_time)
        self.log_line(f"{e.run_id}: {e.status} in {e.wall_time:.1f}s" + (f": {e.message}" if e.message else ""))
        if e.status == "failed":
            self.notify(f"{e.run_id} failed: {e.message}", severity="error", timeout=8)

    # --------------------------------------------------------------- actions
    def action_stop(self) -> None:
        self.app.action_stop()

    def action_zoom(self) -> None:
        zoom_next(self)

    def action_list(self) -> None:
        self.query_one("#run-rows", VerticalScroll).focus()

    def action_clear(self) -> None:
        for chart in self.query(SeriesChart):
            chart.clear_series()
