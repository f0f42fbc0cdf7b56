"""Monitor: a progress bar per run, live charts, device, and the log."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ProgressBar, RichLog, Static

from benchtui import messages
from rich.text import Text

from benchtui.widgets.charts import SeriesChart, colour, zoom_next
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


class RunRow(Horizontal):
    """One run: its colour swatch (its curves' colour), name and status, its
    progress bar, then its ETA while it runs and its wall time once ended."""

    DEFAULT_CSS = """
    RunRow { height: 1; }
    RunRow .run-swatch { width: 2; }
    RunRow .run-label { width: 1fr; min-width: 20; text-wrap: nowrap; text-overflow: ellipsis; }
    RunRow ProgressBar { width: auto; }
    RunRow Bar { width: 16; }
    RunRow .run-eta { width: 12; padding: 0 0 0 1; }
    """

    def __init__(self, run_id: str, total: int, colour_code: int):
        super().__init__()
        self.run_id, self.total, self.colour_code = run_id, max(1, total), colour_code
        self.started = time.monotonic()
        self.ended = False
        self.swatch = Label(Text("■ ", style=f"color({colour_code})"), classes="run-swatch")
        self.label = Label(run_id, classes="run-label")
        self.bar = ProgressBar(total=self.total, show_eta=False)
        self.eta = Label("", classes="run-eta")

    def compose(self) -> ComposeResult:
        yield self.swatch
        yield self.label
        yield self.bar
        yield self.eta

    def advance(self, done: int) -> None:
        """Progress in steps; the ETA is the mean pace so far times what is left."""
        if self.ended:
            return
        self.bar.update(progress=done)
        elapsed = time.monotonic() - self.started
        if done > 0 and elapsed > 0:
            self.eta.update(f"ETA {duration(elapsed / done * (self.total - min(done, self.total)))}")

    def end(self, wall_time: float, finished: bool) -> None:
        """An ended run shows how long it took; its ETA no longer counts."""
        self.ended = True
        if finished:
            self.bar.update(progress=self.total)
        self.eta.update(f"took {duration(wall_time)}")


class MonitorScreen(Screen):
    SUB_TITLE = "Monitor"
    BINDINGS = [
        Binding("x", "stop", "stop sweep", show=False),
        Binding("c", "clear", "clear charts", show=False),
        Binding("z", "zoom", "zoom chart"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="monitor"):
            yield Static("no sweep yet: set one up on the Setup screen (1) and press r", id="sweep-status")
            yield Static(device_line(), id="device")
            yield VerticalScroll(id="run-rows")
            with Horizontal(id="charts"):
                yield SeriesChart("training loss per step", "step", "loss", log_y=True, id="step-chart")
                yield SeriesChart("primary metric per epoch", "epoch", "", id="epoch-chart")
            yield RichLog(id="log", max_lines=2000, wrap=True, markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reset()
        self.set_interval(0.25, self.replot)
        self.set_interval(2.0, self.update_device)

    def reset(self) -> None:
        """A new sweep: its rows and curves only (earlier sweeps are on the Runs screen)."""
        self.rows: dict[str, RunRow] = {}
        self.steps: dict[str, int] = {}
        self.kinds: dict[str, Kind | None] = {}
        self.latest: dict[str, str] = {}  # run -> its primary metric, as shown
        self.query_one("#run-rows", VerticalScroll).remove_children()
        for chart in self.query(SeriesChart):
            chart.clear_series()

    def replot(self) -> None:
        self.set_status(self.app.sweep_status)
        for chart in self.query(SeriesChart):
            chart.replot()

    def update_device(self) -> None:
        self.query_one("#device", Static).update(device_line())

    # ------------------------------------------------------------ events in
    def set_status(self, text: str) -> None:
        if text != getattr(self, "_status", None):
            self._status = text
            self.query_one("#sweep-status", Static).update(text)

    def log_line(self, text: str | Text, style: str = "") -> None:
        """Engine lines are plain text (never parsed as markup); the bench's own may be styled."""
        self.query_one("#log", RichLog).write(text if isinstance(text, Text) else Text(text, style=style))

    def run_started(self, message: messages.RunStarted) -> None:
        e = message.event
        self.kinds[e.run_id] = KINDS.get(e.kind)
        kind = self.kinds[e.run_id]
        if kind is not None:  # the charts name the metrics of the kind that runs now
            step_chart = self.query_one("#step-chart", SeriesChart)
            step_chart.title, step_chart.ylabel = kind.metric("step_loss").label, "loss"
            metric = kind.primary_metric
            epoch_chart = self.query_one("#epoch-chart", SeriesChart)
            epoch_chart.title = f"{metric.label} per epoch" + (f" ({metric.unit})" if metric.unit else "")
            epoch_chart.ylabel = metric.short
            step_chart.dirty = epoch_chart.dirty = True
        row = RunRow(e.run_id, e.epochs * e.steps_per_epoch, colour(len(self.rows)))
        self.rows[e.run_id] = row
        self.steps[e.run_id] = e.steps_per_epoch
        self.query_one("#run-rows", VerticalScroll).mount(row)
        row.scroll_visible()
        self.log_line(f"{e.run_id}: started on {e.device}" + (f" ({e.note})" if e.note else ""))

    def step_progress(self, message: messages.StepProgress) -> None:
        e = message.event
        if e.run_id in self.rows:
            self.rows[e.run_id].advance((e.epoch - 1) * e.steps_per_epoch + e.step)

    def epoch_ended(self, message: messages.EpochEnded) -> None:
        e = message.event
        m = dict(e.metrics)
        short = e.run_id.split("/", 1)[-1]
        kind = self.kinds.get(e.run_id)
        primary = kind.primary_metric if kind is not None else None
        row = self.rows.get(e.run_id)
        if row is not None:
            row.advance(e.epoch * self.steps.get(e.run_id, 0))
            shown = f"{primary.short} {primary.format(m.get(primary.name))}" if primary else ""
            self.latest[e.run_id] = shown
            # status and metric first: on 80 columns a long run name is what gets cut
            row.label.update(Text(f"ep {e.epoch} {shown}  {e.run_id}"))
        step_chart = self.query_one("#step-chart", SeriesChart)
        start = len(step_chart.series.get(short, ([], []))[0])
        index = list(self.rows).index(e.run_id) if e.run_id in self.rows else 0
        step_chart.extend(short, list(range(start + 1, start + 1 + len(e.step_losses))), list(e.step_losses),
                          colour(index))
        if primary is not None and primary.name in m:
            self.query_one("#epoch-chart", SeriesChart).extend(short, [e.epoch], [m[primary.name]], colour(index))

    def run_ended(self, message: messages.RunEnded) -> None:
        e = message.event
        row = self.rows.get(e.run_id)
        if row is not None:
            style = {"ok": "green", "diverged": "yellow", "pruned": "magenta"}.get(e.status, "red")
            row.label.update(Text.assemble((e.status, style), f" {self.latest.get(e.run_id, '')}  {e.run_id}"))
            row.end(e.wall_time, e.status == "ok")
        self.log_line(f"{e.run_id}: {e.status} in {e.wall_time:.1f}s" + (f": {e.message}" if e.message else ""))

    # --------------------------------------------------------------- actions
    def action_stop(self) -> None:
        self.app.stop_sweep()

    def action_zoom(self) -> None:
        zoom_next(self)

    def action_clear(self) -> None:
        for chart in self.query(SeriesChart):
            chart.clear_series()
