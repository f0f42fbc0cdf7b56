"""The Textual lab bench. Screens route, widgets draw; training runs in a
thread worker and its events arrive as messages."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from functools import partial

from textual import work
from textual.app import App, ComposeResult
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from benchtui import messages
from benchtui.screens.gallery import GalleryScreen
from benchtui.screens.help import HelpScreen
from benchtui.screens.monitor import MonitorScreen
from benchtui.screens.runs import RunsScreen
from benchtui.screens.setup import SetupScreen
from benchtui.setup_state import SetupState, validate
from benchtui.sink import TuiSink
from engine.errors import BenchError

class ConfirmQuit(ModalScreen[bool]):
    """q during a sweep asks first: the run in progress would stop."""

    BINDINGS = [Binding("y,enter", "answer(True)", "stop and quit"), Binding("n,escape", "answer(False)", "keep running")]

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box"):
            yield Label("A sweep is running. Stop it and quit? Finished runs are kept.")
            yield Label("[b]y[/] / enter: stop and quit    [b]n[/] / esc: keep running")

    def action_answer(self, stop: bool) -> None:
        self.dismiss(stop)


class BenchCommands(Provider):
    """The bench's actions in the command palette (ctrl+p)."""

    ACTIONS = (
        ("Run the sweep on the Setup screen", "run", "ctrl+r"),
        ("Stop the sweep", "stop", "ctrl+x"),
        ("Load a preset experiment", "screen_action('setup', 'load')", "l on Setup"),
        ("Save the setup as a preset", "screen_action('setup', 'save')", "ctrl+s on Setup"),
        ("Show the Setup screen", "show('setup')", "1"),
        ("Show the Monitor screen", "show('monitor')", "2"),
        ("Show the Runs screen", "show('runs')", "3"),
        ("Show the Gallery screen", "show('gallery')", "4"),
        ("Open the selected run (Runs)", "screen_action('runs', 'open')", "enter on Runs"),
        ("Compare the marked runs (Runs)", "screen_action('runs', 'compare')", "c on Runs"),
        ("Help: every key", "help", "?"),
    )

    async def discover(self) -> Hits:
        for text, action, key in self.ACTIONS:
            yield DiscoveryHit(text, partial(self.app.action_palette_run, action), help=key)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, action, key in self.ACTIONS:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.action_palette_run, action), help=key)


SCREEN_CLASSES = {"setup": SetupScreen, "monitor": MonitorScreen, "runs": RunsScreen, "gallery": GalleryScreen}


class BenchApp(App):
    """The lab bench. The setup is ``setup_state`` (UI-free); a sweep runs
    in a thread worker whose engine events the TUI sink posts to the
    Monitor as messages; ``sweep_status`` is reactive (the Monitor watches
    it)."""

    TITLE = "benchtui"
    SUB_TITLE = "a terminal lab bench"
    CSS_PATH = "benchtui.tcss"
    SCREENS = SCREEN_CLASSES
    COMMANDS = App.COMMANDS | {BenchCommands}
    sweep_status: reactive[str] = reactive("no sweep yet: set one up on the Setup screen (1) and press r")
    BINDINGS = [
        # priority: they work from inside a field too (an Input would take ctrl+x as "cut")
        Binding("ctrl+r", "run", "run", priority=True),
        Binding("ctrl+x", "stop", "stop", priority=True),
        Binding("escape", "leave_field", "leave field", show=False),
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
        from benchtui.screens.runs import CurvesModal

        self.push_screen(HelpScreen({**SCREEN_CLASSES, "run view": CurvesModal}, self.BINDINGS))

    def action_screen_action(self, name: str, action: str) -> None:
        """Show screen ``name`` and run one of its actions there."""
        self.action_show(name)
        self.call_later(self.run_action, action, self.get_screen(name))

    def action_leave_field(self) -> None:
        """Escape leaves a field, so that the screen's one-key bindings work again."""
        self.screen.set_focus(None)

    def action_run(self) -> None:
        """Run what the Setup screen shows, from any screen."""
        if isinstance(self.screen, ModalScreen):
            return
        self.start_from_setup()

    def action_stop(self) -> None:
        if self.sweep_running:
            self.stop_sweep()
        else:
            self.notify("no sweep is running")

    def action_palette_run(self, action: str) -> None:
        self.call_later(self.run_action, action)

    # ---------------------------------------------------------------- sweeps
    def load_setup(self, path: Path, experiment: str) -> None:
        from engine.preset import load_preset

        before = self.setup_state
        self.setup_state = SetupState.from_preset(load_preset(path), experiment)
        self.setup_state.executor, self.setup_state.workers = before.executor, before.workers  # the bench's, kept

    def start_from_setup(self) -> None:
        """Record the launch (its own preset file: exactly what runs) and run it."""
        from engine.preset import load_preset
        from engine.runs import now
        from engine.study import ReplayOptions, plan

        if self.sweep_running:
            self.notify("a sweep is already running (ctrl+x stops it)", severity="warning")
            return
        problems = validate(self.setup_state)
        if problems:  # never run something other than what the screen shows
            self.notify("not run; fix first:\n" + "\n".join(f"• {p}" for p in problems.values()), severity="error",
                        timeout=10)
            return
        # the setup runs its one experiment (a report needs the whole preset: use benchtui replay)
        state = dataclasses.replace(self.setup_state, others=[], report=False)
        # (the runs-folder lock of issue 22 is taken here, before the launch record is written)
        launches = self.runs_dir / state.name / "launches"
        path = launches / f"{now().replace(':', '-')}.toml"
        n = 1
        while path.exists():  # two launches within a second keep two records
            n += 1
            path = launches / f"{now().replace(':', '-')}-{n}.toml"
        try:
            state.save(path)
            preset = load_preset(path)
        except (BenchError, OSError) as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        # planning loads (and may first build) the data: do it in the worker, not on the UI thread
        executor = None if state.executor == "auto" else state.executor
        self.start_plan(lambda: plan(preset, ReplayOptions(runs_dir=self.runs_dir, data_root=self.data_root,
                                                           executor=executor, workers=state.workers)),
                        preset.name)

    def start_plan(self, make_plan, name: str | None = None) -> None:
        """Run a plan, or a function that makes one (called in the worker)."""
        self.stop_event.clear()
        self.sweep_running = True
        self.sweep_result = None
        self.action_show("monitor")
        monitor = self.get_screen("monitor")
        monitor.post_message(messages.SweepStarted())
        if callable(make_plan):
            self.sweep_status = f"preparing {name}: loading data…"
        else:
            self.on_sweep_planned(messages.SweepPlanned(make_plan.preset.name, len(make_plan.runs)))
        self.run_sweep(make_plan, TuiSink(self, monitor))

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def run_sweep(self, make_plan, sink: TuiSink) -> None:
        from engine.study import replay

        if callable(make_plan):
            try:
                the_plan = make_plan()
            except BenchError as exc:
                self.post_message(messages.SweepFinished({}, [str(exc)], False))
                return
            self.post_message(messages.SweepPlanned(the_plan.preset.name, len(the_plan.runs)))
        else:
            the_plan = make_plan
        summary = replay(the_plan, callbacks_for=lambda run: [sink], stop=self.stop_event, log=sink.log)
        self.post_message(messages.SweepFinished(summary.counts, summary.problems, self.stop_event.is_set()))

    def on_sweep_planned(self, message: messages.SweepPlanned) -> None:
        self.sweep_status = (f"running {message.name}: {message.runs} run{'s' if message.runs != 1 else ''} "
                             f"(x stops; finished runs are kept)")

    def stop_sweep(self) -> None:
        if self.sweep_running:
            self.stop_event.set()
            self.notify("stopping after the current step…")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "sweep":
            return
        if event.state == WorkerState.ERROR:
            self.sweep_running = False
            self.sweep_status = f"sweep failed: {event.worker.error}"
            self.notify(f"sweep failed: {event.worker.error}", severity="error", timeout=10)
            self.to_monitor(messages.LogLine(f"sweep failed: {event.worker.error}", style="red"))
        elif event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self.sweep_running = False

    def on_sweep_finished(self, message: messages.SweepFinished) -> None:
        self.sweep_running = False
        self.sweep_result = message
        counts = ", ".join(f"{n} {s}" for s, n in sorted(message.counts.items())) or "no runs"
        verdict = "stopped" if message.stopped else "finished"
        self.sweep_status = f"sweep {verdict}: {counts}. Runs screen (3) shows them."
        for line in message.problems:
            self.to_monitor(messages.LogLine(line, style="red"))
        self.notify(f"sweep {verdict}: {counts}", severity="warning" if message.problems else "information")

    def to_monitor(self, message) -> None:
        """Post to the Monitor, unless the app is closing (events may still arrive from the sweep thread)."""
        try:
            self.get_screen("monitor").post_message(message)
        except KeyError:
            pass

    def on_unmount(self) -> None:
        """However the app ends (q, an error, a test that fails), the sweep
        thread stops cooperatively instead of training on unseen."""
        self.stop_event.set()

    async def action_quit(self) -> None:
        if not self.sweep_running:
            self.exit()
            return

        async def answered(stop: bool | None) -> None:
            if stop and self.sweep_running:
                self.stop_event.set()
                await self.workers.wait_for_complete()
            if stop:
                self.exit()

        self.push_screen(ConfirmQuit(), answered)


def make_app(runs_dir: Path = Path("runs"), data_root: Path = Path("data"), presets_dir: Path = Path("presets"),
             plan=None) -> BenchApp:
    return BenchApp(runs_dir=runs_dir, data_root=data_root, presets_dir=presets_dir, plan=plan)
