"""Setup: dataset, model and sweep, loaded from or saved as a preset."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import (Button, Footer, Header, Input, Label, OptionList, Select, Static, TabbedContent,
                             TabPane)
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from benchtui.setup_state import SetupState, choices
from benchtui.widgets.thumbnail import Thumbnail
from benchtui.widgets.forms import ConfigForm
from engine.errors import BenchError
from engine.kinds import get_kind


class LoadPreset(ModalScreen[tuple[Path, str] | None]):
    """Pick a preset file and one of its experiments."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def compose(self) -> ComposeResult:
        from engine.preset import load_preset

        options = []
        for path in sorted(self.folder.glob("*.toml")):
            try:
                preset = load_preset(path)
            except BenchError as exc:
                options.append(Option(f"✗ {path.name}: {exc}", disabled=True))
                continue
            for exp in preset.experiments:
                options.append(Option(f"{path.name} › {exp.name}  ({len(exp.runs)} runs) {exp.title}",
                                      id=f"{path}::{exp.name}"))
        with Vertical(id="modal-box"):
            yield Label(f"Load a preset experiment from {self.folder}/ (enter to load, esc to cancel)")
            yield OptionList(*options, id="preset-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        path, _, name = (event.option.id or "").partition("::")
        self.dismiss((Path(path), name))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePreset(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, default: Path):
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box"):
            yield Label("Save the setup as a preset TOML (enter to save, esc to cancel):")
            yield Input(value=str(self.default), id="save-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(Path(event.value.strip()) if event.value.strip() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SetupScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "run sweep"),
        Binding("l", "load", "load preset"),
        Binding("ctrl+s", "save", "save preset"),
        Binding("d", "tab('dataset')", "dataset tab", show=False),
        Binding("m", "tab('model')", "model tab", show=False),
        Binding("s", "tab('sweep')", "sweep tab", show=False),
    ]

    def compose(self) -> ComposeResult:
        state: SetupState = self.app.setup_state
        yield Header()
        with TabbedContent(initial="dataset", id="setup-tabs"):
            with TabPane("Dataset", id="dataset"):
                with VerticalScroll():
                    with Horizontal(classes="form-row"):
                        yield Label("dataset", classes="form-key")
                        yield Select(choices(), value=state.choice, allow_blank=False, id="dataset-select")
                    with Horizontal(classes="form-row"):
                        yield Label("folder", classes="form-key")
                        yield Input(value=str(state.settings.get("data.path", "")),
                                    placeholder="empty = embedded default; enter to check", id="data-path")
                    yield Static("", id="data-error")
                    yield Static("press enter in the folder field to check the data", id="data-summary")
                    yield PlotextPlot(id="data-preview")
                    yield Thumbnail(id="data-thumb")
            with TabPane("Model", id="model"):
                yield ConfigForm(state.config_type, ("model", "optim"), state.settings, id="model-form")
            with TabPane("Sweep", id="sweep"):
                with VerticalScroll():
                    yield Static("", id="sweep-error")
                    for table, count in (("grid", 2), ("zip", 2)):
                        for i in range(count):
                            with Horizontal(classes="form-row"):
                                yield Label(f"{table} key {i + 1}", classes="form-key")
                                yield Input(placeholder="e.g. optim.lr", id=f"{table}-key-{i}", classes="sweep-key")
                                yield Input(placeholder="values, comma-separated", id=f"{table}-values-{i}",
                                            classes="sweep-values")
                    yield Static("grid: every combination; zip: lists paired element-wise", classes="form-help")
                    yield ConfigForm(state.config_type, ("system",), state.settings, id="system-form")
                    yield Static("", id="run-count")
                    with Horizontal(id="setup-buttons"):
                        yield Button("Run (r)", id="run", variant="primary")
                        yield Button("Save preset (ctrl+s)", id="save")
                        yield Button("Load preset (l)", id="load")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.fill_sweep()
        self.update_count()
        self.load_data(self.app.setup_state.config())

    # ----------------------------------------------------------- dataset
    @on(Select.Changed, "#dataset-select")
    async def dataset_changed(self, event: Select.Changed) -> None:
        state: SetupState = self.app.setup_state
        before = (state.kind, state.dataset)
        state.set_dataset(str(event.value))
        if state.kind != before[0]:
            await self.rebuild_forms()
            self.fill_sweep()
        if (state.kind, state.dataset) != before:
            self.load_data(state.config())
        self.update_count()

    @on(Input.Submitted, "#data-path")
    def check_data(self, event: Input.Submitted) -> None:
        self.app.setup_state.set_value("data.path", event.value)
        self.query_one("#data-summary", Static).update("checking…")
        self.load_data(self.app.setup_state.config())

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def load_data(self, cfg) -> None:
        kind = get_kind(self.app.setup_state.kind)
        try:
            data = kind.load_data(cfg, self.app.data_root)
        except BenchError as exc:
            self.app.call_from_thread(self.show_data_error, str(exc))
            return
        self.app.call_from_thread(self.show_data, data)

    def show_data_error(self, text: str) -> None:
        self.query_one("#data-error", Static).update(f"[red]✗ {text}[/]")
        self.query_one("#data-summary", Static).update("")

    def show_data(self, data) -> None:
        """Draw the kind's preview of the data: a scatter, an image, or text only."""
        preview = get_kind(self.app.setup_state.kind).preview(data)
        self.query_one("#data-error", Static).update("")
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
        self.query_one("#data-summary", Static).update(preview.text)

    # ------------------------------------------------------------- model
    async def rebuild_forms(self) -> None:
        state: SetupState = self.app.setup_state
        for form_id, sections in (("#model-form", ("model", "optim")), ("#system-form", ("system",))):
            old = self.query_one(form_id, ConfigForm)
            parent = old.parent
            new = ConfigForm(state.config_type, sections, state.settings, id=form_id[1:])
            await old.remove()
            if form_id == "#system-form":
                parent.mount(new, before=self.query_one("#run-count"))
            else:
                parent.mount(new)

    @on(ConfigForm.Changed)
    def value_changed(self, event: ConfigForm.Changed) -> None:
        try:
            self.app.setup_state.set_value(event.key, event.text)
        except BenchError as exc:
            self.notify(str(exc), severity="error")
        self.update_count()

    # ------------------------------------------------------------- sweep
    def fill_sweep(self) -> None:
        state: SetupState = self.app.setup_state
        # a fill is not an edit: sweep_changed would rebuild the sweep from these rows
        # and drop a loaded preset's explicit runs (extra_runs)
        with self.prevent(Input.Changed):
            for table, values in (("grid", state.grid), ("zip", state.zipped)):
                items = list(values.items())
                for i in range(2):
                    key, vals = items[i] if i < len(items) else ("", [])
                    self.query_one(f"#{table}-key-{i}", Input).value = key
                    self.query_one(f"#{table}-values-{i}", Input).value = ", ".join(
                        str(v).lower() if isinstance(v, bool) else str(v) for v in vals)

    @on(Input.Changed, ".sweep-key, .sweep-values")
    def sweep_changed(self, event: Input.Changed) -> None:
        state: SetupState = self.app.setup_state
        error = self.query_one("#sweep-error", Static)
        try:
            for table in ("grid", "zip"):
                target = state.grid if table == "grid" else state.zipped
                target.clear()
                for i in range(2):
                    key = self.query_one(f"#{table}-key-{i}", Input).value.strip()
                    values = self.query_one(f"#{table}-values-{i}", Input).value
                    if key:
                        state.set_sweep(table, key, values)
            state.extra_runs = []
            error.update("")
        except BenchError as exc:
            error.update(f"[red]✗ {exc}[/]")
        self.update_count()

    def update_count(self) -> None:
        state: SetupState = self.app.setup_state
        try:
            runs = len(state.runs())
            state.config()
            text = f"[b]{runs} run{'s' if runs != 1 else ''}[/] will be launched ({state.kind}: {state.experiment})"
        except BenchError as exc:
            text = f"[red]✗ {exc}[/]"
        self.query_one("#run-count", Static).update(text)

    # ----------------------------------------------------------- actions
    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        self.app.start_from_setup()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        state: SetupState = self.app.setup_state

        def done(path: Path | None) -> None:
            if path is None:
                return
            try:
                state.save(path)
            except (BenchError, OSError) as exc:
                self.notify(f"not saved: {exc}", severity="error")
                return
            self.notify(f"saved {path}: run it with  benchtui replay {path}")

        self.app.push_screen(SavePreset(self.app.presets_dir / f"{state.name}.toml"), done)

    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        async def done(choice: tuple[Path, str] | None) -> None:
            if choice is None:
                return
            try:
                self.app.load_setup(*choice)
            except BenchError as exc:
                self.notify(str(exc), severity="error")
                return
            with self.prevent(Select.Changed):
                self.query_one("#dataset-select", Select).value = self.app.setup_state.choice
            await self.rebuild_forms()
            self.fill_sweep()
            self.update_count()
            state = self.app.setup_state
            self.query_one("#data-path", Input).value = str(state.settings.get("data.path", ""))
            self.query_one("#data-summary", Static).update("checking…")
            self.load_data(state.config())  # the preset's dataset, not the one shown before
            self.notify(f"loaded {choice[0].name} › {choice[1]}")

        self.app.push_screen(LoadPreset(self.app.presets_dir), done)
