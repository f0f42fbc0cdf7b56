"""The Textual lab bench. Screens route, widgets draw; training runs in a
thread worker and its events arrive as messages."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from benchtui import messages
from benchtui.screens.gallery import GalleryScreen
from benchtui.screens.help import HelpScreen
from benchtui.screens.monitor import MonitorScreen
from benchtui.screens.runs import RunsScreen
from benchtui.screens.setup import SetupScreen
from benchtui.setup_state import SetupState
from benchtui.sink import TuiSink
from engine.errors import BenchError

SCREEN_CLASSES = {"setup": SetupScreen, "monitor": MonitorScreen, "runs": RunsScreen, "gallery": GalleryScreen}


class BenchApp(App):
    TITLE = "benchtui"
    SUB_TITLE = "a terminal lab bench"
    CSS_PATH = "benchtui.tcss"
    SCREENS = SCREEN_CLASSES
    BINDINGS = [
        # one footer entry for the four screens keeps "? help" and "q quit" visible at 80 columns
        Binding("1,f2", "show('setup')", "screens", key_display="1-4"),
        Binding("2,f3", "show('monitor')", "monitor", show=False),
        Binding("3,f4", "show('runs')", "runs", show=False),
        Binding("4,f5", "show('gallery')", "gallery", show=False),
        Binding("question_mark,f1", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, runs_dir: Path = Path("runs"), data_root: Path = Path("data"),
                 presets_dir: Path = Path("presets"), plan=None):
        super().__init__()
        self.runs_dir, self.data_root, self.presets_dir = Path(runs_dir), Path(data_root), Path(presets_dir)
        self.setup_state = SetupState()
        self.stop_event = threading.Event()
        self.pending_plan = plan
        self.sweep_running = False
        self.sweep_result: messages.SweepFinished | None = None
        self.sweep_status = "no sweep yet: set one up on the Setup screen (1) and press r"

    def on_mount(self) -> None:
        self.push_screen("setup")
        if self.pending_plan is not None:
            plan, self.pending_plan = self.pending_plan, None
            self.start_plan(plan)

    # ------------------------------------------------------------ navigation
    def action_show(self, name: str) -> None:
        if self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(SCREEN_CLASSES))

    # ---------------------------------------------------------------- sweeps
    def load_setup(self, path: Path, experiment: str) -> None:
        from engine.preset import load_preset

        self.setup_state = SetupState.from_preset(load_preset(path), experiment)

    def start_from_setup(self) -> None:
        """Save the setup as the sweep's own preset and run it."""
        from engine.preset import load_preset
        from engine.study import ReplayOptions, plan

        if self.sweep_running:
            self.notify("a sweep is already running (x on the monitor stops it)", severity="warning")
            return
        invalid = [inp.id[2:].replace("--", ".") for inp in self.screen.query(".-invalid") if inp.id]
        if invalid:  # never run the last good value in place of what is typed
            self.notify(f"fix the value of {', '.join(invalid)} first", severity="error", timeout=8)
            return
        # the setup runs its one experiment (a report needs the whole preset: use benchtui replay)
        state = dataclasses.replace(self.setup_state, others=[], report=False)
        try:
            path = state.save(self.runs_dir / state.name / "preset.toml")
            preset = load_preset(path)
        except (BenchError, OSError) as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        # planning loads (and may first build) the data: do it in the worker, not on the UI thread
        self.start_plan(lambda: plan(preset, ReplayOptions(runs_dir=self.runs_dir, data_root=self.data_root)),
                        preset.name)

    def start_plan(self, make_plan, name: str | None = None) -> None:
        """Run a plan, or a function that makes one (called in the worker)."""
        self.stop_event.clear()
        self.sweep_running = True
        self.action_show("monitor")
        if callable(make_plan):
            status = f"preparing {name}: loading data…"
        else:
            status = f"running {make_plan.preset.name}: {len(make_plan.runs)} runs (x stops; finished runs are kept)"
        self.sweep_status = status
        self.run_sweep(make_plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def run_sweep(self, make_plan) -> None:
        from engine.study import replay

        sink = TuiSink(self)
        if callable(make_plan):
            try:
                the_plan = make_plan()
            except BenchError as exc:
                self.post_message(messages.SweepFinished({}, [str(exc)], False))
                return
            self.sweep_status = (f"running {the_plan.preset.name}: {len(the_plan.runs)} runs "
                                 f"(x stops; finished runs are kept)")  # a plain str: the monitor polls it
        else:
            the_plan = make_plan
        summary = replay(the_plan, callbacks_for=lambda run: [sink], stop=self.stop_event, log=sink.log)
        self.post_message(messages.SweepFinished(summary.counts, summary.problems, self.stop_event.is_set()))

    def stop_sweep(self) -> None:
        if self.sweep_running:
            self.stop_event.set()
            self.notify("stopping after the current step…")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "sweep":
            return
        if event.state == WorkerState.ERROR:
            self.sweep_running = False
            self.notify(f"sweep failed: {event.worker.error}", severity="error", timeout=10)
            self.get_screen("monitor").log_line(f"[red]sweep failed: {event.worker.error}[/]")
        elif event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self.sweep_running = False

    # ------------------------------------------------ engine events → monitor
    def on_run_started(self, message: messages.RunStarted) -> None:
        self.get_screen("monitor").run_started(message)

    def on_step_progress(self, message: messages.StepProgress) -> None:
        self.get_screen("monitor").step_progress(message)

    def on_epoch_ended(self, message: messages.EpochEnded) -> None:
        self.get_screen("monitor").epoch_ended(message)

    def on_run_ended(self, message: messages.RunEnded) -> None:
        self.get_screen("monitor").run_ended(message)
        if message.event.status in ("failed",):
            self.notify(f"{message.event.run_id} failed: {message.event.message}", severity="error", timeout=8)

    def on_log_line(self, message: messages.LogLine) -> None:
        self.get_screen("monitor").log_line(message.text)

    def on_sweep_finished(self, message: messages.SweepFinished) -> None:
        self.sweep_running = False
        self.sweep_result = message
        counts = ", ".join(f"{n} {s}" for s, n in sorted(message.counts.items())) or "no runs"
        verdict = "stopped" if message.stopped else "finished"
        monitor: MonitorScreen = self.get_screen("monitor")
        self.sweep_status = f"sweep {verdict}: {counts}. Runs screen (3) shows them."
        monitor.set_status(self.sweep_status)
        for line in message.problems:
            monitor.log_line(f"[red]{line}[/]")
        self.notify(f"sweep {verdict}: {counts}", severity="warning" if message.problems else "information")

    async def action_quit(self) -> None:
        if self.sweep_running:
            self.stop_event.set()
            await self.workers.wait_for_complete()
        self.exit()


def make_app(runs_dir: Path = Path("runs"), data_root: Path = Path("data"), presets_dir: Path = Path("presets"),
             plan=None) -> BenchApp:
    return BenchApp(runs_dir=runs_dir, data_root=data_root, presets_dir=presets_dir, plan=plan)
