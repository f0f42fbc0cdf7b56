"""Setup: dataset, model and sweep, loaded from or saved as a preset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import (Tabs, Button, Footer, Header, Input, Label, OptionList, Select, Static, TabbedContent,
                             TabPane)
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from benchtui.setup_state import SEED_KEY, SetupState, choices, validate
from benchtui.widgets.forms import ConfigForm, ExplicitRuns, SetupPane, SweepRows
from benchtui.widgets.thumbnail import Thumbnail
from engine.config import leaf_types
from engine.errors import BenchError
from engine.kinds import get_kind


class LoadPreset(ModalScreen[tuple[Path, str] | None]):
    """Pick a preset file and one of its experiments; typing narrows the
    list. With unsaved edits on the Setup screen, loading asks first
    (enter again on the same experiment discards them)."""

    BINDINGS = [Binding("escape", "cancel", "cancel"),
                Binding("down", "list_focus", "list", show=False)]

    def __init__(self, folder: Path, edited: bool = False):
        super().__init__()
        self.folder, self.edited = folder, edited
        self.confirmed: str | None = None
        self.entries: list[tuple[str, str | None, bool]] = []  # (prompt, id, disabled)

    def compose(self) -> ComposeResult:
        from engine.preset import load_preset

        for path in sorted(self.folder.glob("*.toml")):
            try:
                preset = load_preset(path)
            except BenchError as exc:
                self.entries.append((f"✗ {path.name}: {exc}", None, True))
                continue
            for exp in preset.experiments:
                self.entries.append((f"{path.name} › {exp.name}  ({plural(len(exp.runs), 'run')}) {exp.title}",
                                     f"{path}::{exp.name}", False))
        with Vertical(id="modal-box"):
            yield Label(f"Load a preset experiment from {escape(str(self.folder))}/", id="load-title")
            yield Label("[dim]type to filter · ↓ to the list · enter loads · esc cancels[/]")
            yield Input(placeholder="filter: words in the file, experiment or title", id="preset-filter",
                        compact=True)
            yield OptionList(*self.options(""), id="preset-list")
            yield Static("", id="load-warning")

    def options(self, text: str) -> list[Option]:
        words = text.lower().split()
        return [Option(escape(prompt), id=ident, disabled=disabled) for prompt, ident, disabled in self.entries
                if all(w in prompt.lower() for w in words)]

    def on_mount(self) -> None:
        self.query_one("#preset-filter", Input).focus()  # typing filters at once
        listing = self.query_one("#preset-list", OptionList)
        listing.highlighted = next((i for i, (_p, _i, d) in enumerate(self.entries) if not d), None)

    @on(Input.Changed, "#preset-filter")
    def _filter(self, event: Input.Changed) -> None:
        listing = self.query_one("#preset-list", OptionList)
        listing.clear_options()
        listing.add_options(self.options(event.value))
        enabled = [i for i in range(listing.option_count) if not listing.get_option_at_index(i).disabled]
        listing.highlighted = enabled[0] if enabled else None

    @on(Input.Submitted, "#preset-filter")
    def _filter_done(self) -> None:
        """Enter in the filter loads the highlighted experiment (↓ moves into the list)."""
        listing = self.query_one("#preset-list", OptionList)
        if listing.highlighted is not None:
            listing.action_select()

    def action_list_focus(self) -> None:
        self.query_one("#preset-list", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        ident = event.option.id or ""
        if self.edited and self.confirmed != ident:
            self.confirmed = ident
            self.query_one("#load-warning", Static).update(
                "[b red]The Setup screen has unsaved edits.[/] Enter again to discard them and load, "
                "esc to keep them (ctrl+s saves).")
            return
        path, _, name = ident.partition("::")
        self.dismiss((Path(path), name))

    def action_cancel(self) -> None:
        self.dismiss(None)


def plural(n: int, word: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class SavePreset(ModalScreen[Path | None]):
    """Ask for a file name; an existing file is overwritten only after a
    second enter on the same name."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, default: Path):
        super().__init__()
        self.default = default
        self.confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box"):
            yield Label("Save the experiment on screen as a preset TOML (enter to save, esc to cancel):")
            yield Input(value=str(self.default), id="save-path")
            yield Static("", id="save-warning")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.confirmed = None
        self.query_one("#save-warning", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        path = Path(text)
        if path.exists() and self.confirmed != path:
            self.confirmed = path
            self.query_one("#save-warning", Static).update(
                f"[b red]{escape(str(path))} exists.[/] Enter again to overwrite it, or change the name.")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def free_name(folder: Path, stem: str) -> Path:
    """``folder/stem.toml``, or ``stem-2.toml``, ``stem-3.toml``… whichever does not exist."""
    path, n = folder / f"{stem}.toml", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.toml"
    return path


EXECUTOR_CHOICES = [  # the same choice as `benchtui replay --executor` (auto: its default)
    ("auto: processes when faster", "auto"),
    ("local: one run at a time", "local"),
    ("processes: parallel workers", "processes"),
    ("ray: Ray Tune trials", "ray"),
]


class DatasetPane(SetupPane):
    """The dataset, its folder, its ``data.*`` values, and a preview of it."""

    class Chosen(Message):
        """Another dataset was picked (maybe of another kind: the screen rebuilds its panes)."""

        def __init__(self, choice: str) -> None:
            super().__init__()
            self.choice = choice

    def __init__(self, state: SetupState, data_root: Path, **kwargs):
        super().__init__(state, **kwargs)
        self.data_root = data_root
        self.loaded_path: str | None = None

    def compose(self) -> ComposeResult:
        state = self.state
        with Horizontal(classes="form-row"):
            yield Label("dataset", classes="form-key")
            yield Select(choices(), value=state.choice, allow_blank=False, compact=True, id="dataset-select")
        with Horizontal(classes="form-row"):
            yield Label("folder", classes="form-key")
            yield Input(value=str(state.settings.get("data.path", "")), compact=True, name="data.path",
                        placeholder="empty = embedded default; checked when you leave it", id="data-path",
                        classes="field", disabled="data.path" not in leaf_types(state.config_type))
        yield Static("", id="data-error", classes="field-error", name="data.path")
        yield ConfigForm(state, ("data",), skip=("data.path",), id="data-form")
        yield Static("leave the folder field (tab or enter) to check the data", id="data-summary")
        yield PlotextPlot(id="data-preview")
        yield Thumbnail(id="data-thumb")

    def on_mount(self) -> None:
        self.reload()

    @on(Select.Changed, "#dataset-select")
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        if str(event.value) != self.state.choice:
            self.post_message(self.Chosen(str(event.value)))

    @on(Input.Changed, "#data-path")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.state.set_value("data.path", event.value)
        self.edited("data.path")

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _left(self) -> None:
        """The folder and the ``data.*`` values are applied to the preview when
        a field is left (or on enter): it shows the data that will train."""
        self.reload()

    def reload(self) -> None:
        path = str(self.state.settings.get("data.path", ""))
        if "data.path" in self.problems or "data.path" in self.state.typed:
            return
        if path and not Path(path).expanduser().is_dir():
            return
        try:
            cfg = self.state.config()
        except BenchError:
            return  # a value that does not parse is shown under its field
        key = (self.state.kind, repr(cfg.data))
        if key == self.loaded_path:
            return
        self.loaded_path = key
        self.query_one("#data-summary", Static).update("checking…")
        self.load_data(cfg)

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def load_data(self, cfg) -> None:
        kind = get_kind(self.state.kind)
        try:
            data = kind.load_data(cfg, self.data_root)
            preview = kind.preview(data)
        except BenchError as exc:
            self.app.call_from_thread(self.show_data_error, str(exc))
            return
        self.app.call_from_thread(self.show_data, preview)

    def show_data_error(self, text: str) -> None:
        self.query_one("#data-summary", Static).update(Text(f"✗ {text}", style="red"))

    def show_data(self, preview) -> None:
        """Draw the kind's preview of the data: a scatter, an image, or text only."""
        plot = self.query_one("#data-preview", PlotextPlot)
        thumb = self.query_one("#data-thumb", Thumbnail)
        plt = plot.plt
        plt.clear_figure()
        plot.display = preview.scatter is not None
        thumb.display = preview.image is not None
        if preview.image is not None:
            from PIL import Image

            thumb.image = Image.fromarray(preview.image)
        if preview.scatter is not None:
            sc = preview.scatter
            plt.scatter(sc["x"], sc["y"], marker="dot", color=sc.get("color"))
            plt.title(sc.get("title", ""))
            plt.xlabel(sc.get("xlabel", ""))
            plt.ylabel(sc.get("ylabel", ""))
        plot.refresh()
        self.query_one("#data-summary", Static).update(Text(preview.text))


class SweepPane(SetupPane):
    """The sweep: grid and zip rows, seeds, a preset's explicit runs; then
    where the runs train and the ``system.*`` values."""

    def compose(self) -> ComposeResult:
        state = self.state
        yield SweepRows(state, id="sweep-rows")
        yield ExplicitRuns(state, id="explicit-runs")
        yield Static("grid: every combination; zip: lists paired element-wise; seeds: a grid over "
                     f"{SEED_KEY}; explicit runs are added after them", classes="form-help")
        yield Static("", id="sweep-error", classes="field-error", name="sweep")
        with Horizontal(classes="form-row"):
            yield Label("executor", classes="form-key")
            yield Select(EXECUTOR_CHOICES, value=state.executor, allow_blank=False, compact=True, id="executor")
        with Horizontal(classes="form-row"):
            yield Label("workers", classes="form-key")
            yield Input(value=str(state.workers or ""), id="workers", compact=True, name="workers", classes="field",
                        placeholder="runs at once (processes, ray); empty: one per core or GPU")
        yield Static("", id="workers-error", classes="field-error", name="workers")
        yield ConfigForm(state, ("system",), id="system-form")

    @on(Select.Changed, "#executor")
    def _executor(self, event: Select.Changed) -> None:
        event.stop()
        self.state.executor = str(event.value)

    @on(Input.Changed, "#workers")
    def _workers(self, event: Input.Changed) -> None:
        event.stop()
        self.state.set_workers(event.value)
        self.edited("workers")


class SetupScreen(Screen):
    """What is on this screen is what runs: each pane writes its fields
    into the setup state as they are typed, ``validate`` checks the whole
    setup after every edit, every problem shows under its field, and
    running is refused while there is one."""

    SUB_TITLE = "Setup"
    BINDINGS = [
        Binding("r", "run", "run sweep", show=False),
        # short footer words keep "q quit" on an 80-column footer; help shows the tooltips
        Binding("l", "load", "load", tooltip="load preset"),
        Binding("ctrl+s", "save", "save", tooltip="save preset"),
        Binding("d", "tab('dataset')", "dataset tab", show=False),
        Binding("m", "tab('model')", "model tab", show=False),
        Binding("s", "tab('sweep')", "sweep tab", show=False),
    ]

    problems: reactive[dict] = reactive(dict, always_update=True, init=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tab = "dataset"

    @property
    def state(self) -> SetupState:
        return self.app.setup_state

    def compose(self) -> ComposeResult:
        state = self.state
        yield Header()
        with TabbedContent(initial=self.tab, id="setup-tabs"):
            with TabPane("Dataset", id="dataset"):
                with VerticalScroll():
                    yield DatasetPane(state, self.app.data_root, id="dataset-pane")
            with TabPane("Model", id="model"):
                with VerticalScroll():
                    yield ConfigForm(state, ("model", "optim"), id="model-form")
            with TabPane("Sweep", id="sweep"):
                with VerticalScroll(id="sweep-scroll"):
                    yield SweepPane(state, id="sweep-pane")
        # below every tab: the run count and the run action never need scrolling
        with Horizontal(id="setup-buttons"):
            yield Static("", id="run-count")
            yield Button("Run ^r", id="run", variant="primary", compact=True)
            yield Button("Save ^s", id="save", compact=True)
            yield Button("Load l", id="load", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.problems = validate(self.state)

    # ------------------------------------------------------------ checking
    @on(SetupPane.Edited)
    def _edited(self, event: SetupPane.Edited) -> None:
        if event.structure:  # the swept keys are marked on every form
            swept = self.state.swept_marks()
            for form in self.query(ConfigForm):
                form.swept = swept
        self.problems = validate(self.state)

    def watch_problems(self, problems: dict) -> None:
        for pane in self.query(SetupPane):
            pane.problems = problems
        state = self.state
        if problems:
            n = len(problems)
            text = f"[red]✗ {n} problem{'s' if n != 1 else ''}: nothing runs until fixed[/]"
        else:
            runs = len(state.runs())
            text = f"[b]{runs} run{'s' if runs != 1 else ''}[/] ({state.kind}: {escape(state.experiment)})"
        self.query_one("#run-count", Static).update(text)

    @on(DatasetPane.Chosen)
    async def _dataset(self, event: DatasetPane.Chosen) -> None:
        before = self.state.kind
        self.state.set_dataset(event.choice)
        self.state.edited = True
        if self.state.kind != before:  # a new kind starts from its defaults: rebuild every pane
            await self.rebuild()
        else:
            self.query_one(DatasetPane).reload()
            self.problems = validate(self.state)

    async def rebuild(self) -> None:
        """Compose the panes anew from the state (a loaded preset, another kind)."""
        self.tab = self.query_one(TabbedContent).active or "dataset"
        await self.recompose()
        self.set_focus(self.query_one(TabbedContent).query_one(Tabs))  # not a widget the recompose removed
        self.problems = validate(self.state)
        self.call_after_refresh(self._loaded)

    def _loaded(self) -> None:
        """Fields that show their loaded values post changes on mount: those are not edits."""
        self.state.edited = False

    # ----------------------------------------------------------- actions
    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        self.app.action_run()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Save only the experiment on screen, under a name that does not exist yet."""
        problems = validate(self.state)
        if problems:
            self.notify("not saved; fix first:\n" + "\n".join(f"• {p}" for p in problems.values()), severity="error")
            return
        state = dataclasses.replace(self.state, others=[], report=False)

        def done(path: Path | None) -> None:
            if path is None:
                return
            try:
                state.save(path)
            except (BenchError, OSError) as exc:
                self.notify(f"not saved: {exc}", severity="error")
                return
            self.state.edited = False
            self.notify(f"saved {path}: run it with  benchtui replay {path}")

        self.app.push_screen(SavePreset(free_name(self.app.presets_dir, f"{state.name}-{state.experiment}")), done)

    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        async def done(choice: tuple[Path, str] | None) -> None:
            if choice is None:
                return
            from engine.preset import load_preset

            try:
                loaded = SetupState.from_preset(load_preset(choice[0]), choice[1])
            except BenchError as exc:
                self.notify(str(exc), severity="error")
                return
            loaded.executor, loaded.workers = self.state.executor, self.state.workers  # the bench's, kept
            self.app.setup_state = loaded
            await self.rebuild()
            self.notify(f"loaded {choice[0].name} › {choice[1]}")

        self.app.push_screen(LoadPreset(self.app.presets_dir, self.state.edited), done)
