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
from textual.screen import ModalScreen, Screen
from textual.widgets import (Button, Footer, Header, Input, Label, OptionList, Select, Static, TabbedContent,
                             TabPane)
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from benchtui.setup_state import SetupState, choices
from benchtui.widgets.thumbnail import Thumbnail
from benchtui.widgets.forms import ConfigForm, field_id
from engine.config import apply_overrides, get_value, leaf_types, parse_value, resolve_key
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


SEED_KEY = "system.seed"  # the seeds field is a grid over this key
EXECUTOR_CHOICES = [  # the same choice as `benchtui replay --executor` (auto: its default)
    ("auto: processes when faster", "auto"),
    ("local: one run at a time", "local"),
    ("processes: parallel workers", "processes"),
    ("ray: Ray Tune trials", "ray"),
]


class SetupScreen(Screen):
    """What is on this screen is what runs: every field is checked on each
    edit and when it loses focus, with the kind's own config check, and
    running is refused while any field holds an error."""

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

    def compose(self) -> ComposeResult:
        state: SetupState = self.app.setup_state
        self.errors: dict[str, str] = {}  # field (config key, "data.path", "grid-0"…) -> its problem
        self.sweep_errors: dict[str, str] = {}
        yield Header()
        with TabbedContent(initial="dataset", id="setup-tabs"):
            with TabPane("Dataset", id="dataset"):
                with VerticalScroll():
                    with Horizontal(classes="form-row"):
                        yield Label("dataset", classes="form-key")
                        yield Select(choices(), value=state.choice, allow_blank=False, compact=True,
                                     id="dataset-select")
                    with Horizontal(classes="form-row"):
                        yield Label("folder", classes="form-key")
                        yield Input(value=str(state.settings.get("data.path", "")), compact=True,
                                    placeholder="empty = embedded default; checked when you leave it",
                                    id="data-path")
                    yield Static("", id="data-error")
                    yield Static("leave the folder field (tab or enter) to check the data", id="data-summary")
                    yield PlotextPlot(id="data-preview")
                    yield Thumbnail(id="data-thumb")
            with TabPane("Model", id="model"):
                yield ConfigForm(state.config_type, ("model", "optim"), state.settings, id="model-form")
            with TabPane("Sweep", id="sweep"):
                with VerticalScroll(id="sweep-scroll"):
                    for table, count in (("grid", 2), ("zip", 2)):
                        for i in range(count):
                            with Horizontal(classes="form-row"):
                                yield Label(f"{table} key {i + 1}", classes="form-key")
                                yield Input(placeholder="e.g. optim.lr", id=f"{table}-key-{i}", compact=True,
                                            classes="sweep-key")
                                yield Input(placeholder="values, comma-separated", id=f"{table}-values-{i}",
                                            compact=True, classes="sweep-values")
                            yield Static("", id=f"{table}-error-{i}", classes="row-error")
                    with Horizontal(classes="form-row"):
                        yield Label("seeds", classes="form-key")
                        yield Input(placeholder="e.g. 42, 43, 44: every run once per seed (empty: one seed)",
                                    id="seeds", compact=True, classes="sweep-values")
                    yield Static("", id="seeds-error", classes="row-error")
                    yield Static("grid: every combination; zip: lists paired element-wise; seeds: a grid over "
                                 f"{SEED_KEY}", classes="form-help")
                    yield Static("", id="sweep-error")
                    with Horizontal(classes="form-row"):
                        yield Label("executor", classes="form-key")
                        yield Select(EXECUTOR_CHOICES, value=state.executor, allow_blank=False, compact=True,
                                     id="executor")
                    with Horizontal(classes="form-row"):
                        yield Label("workers", classes="form-key")
                        yield Input(value=str(state.workers or ""), id="workers", compact=True,
                                    placeholder="runs at once (processes, ray); empty: one per core or GPU")
                    yield Static("", id="workers-error", classes="row-error")
                    yield ConfigForm(state.config_type, ("system",), state.settings, id="system-form")
        # below every tab: the run count and the run action never need scrolling
        with Horizontal(id="setup-buttons"):
            yield Static("", id="run-count")
            yield Button("Run ^r", id="run", variant="primary", compact=True)
            yield Button("Save ^s", id="save", compact=True)
            yield Button("Load l", id="load", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.fill_sweep()
        self.check()
        self.loaded_path = self.app.setup_state.settings.get("data.path", "")
        self.load_data(self.app.setup_state.config())

    # ------------------------------------------------------------ checking
    def forms(self) -> list[ConfigForm]:
        """The forms of the current kind that are composed (not one being swapped out)."""
        kind_type = self.app.setup_state.config_type
        return [form for form in self.query(ConfigForm)
                if form.config_type is kind_type and form.is_attached and not form._closing
                and (not form.keys or form.query(f"#{field_id(form.keys[0])}"))]

    def check(self) -> list[str]:
        """Read every field into the setup, check it, show each problem under
        its field, update the run count; returns the problems."""
        state: SetupState = self.app.setup_state
        types = leaf_types(state.config_type)
        defaults = state.config_type()
        errors: dict[str, str] = {}
        settings = dict(state.settings)
        for form in self.forms():
            for key in form.keys:
                raw = form.raw(key)
                if raw is None:  # not composed yet: keep the setting as it is
                    continue
                if not isinstance(raw, str):  # a Switch or a Select: its value, kept only when not the default
                    if raw == get_value(defaults, key):
                        settings.pop(key, None)
                    else:
                        settings[key] = raw
                elif not raw.strip():
                    settings.pop(key, None)
                else:
                    try:
                        settings[key] = parse_value(key, types[key], raw.strip())
                    except BenchError as exc:
                        errors[key] = str(exc)
                        settings.pop(key, None)
        folder = self.query_one("#data-path", Input).value.strip()
        if folder:
            settings["data.path"] = folder
            if not Path(folder).expanduser().is_dir():
                errors["data.path"] = f"{folder}: not a folder"
        else:
            settings.pop("data.path", None)
        # a swept key takes its values from the sweep: the form's value would clash with them
        swept = set(state.grid) | set(state.zipped) | {key for run in state.extra_runs for key in run}
        for key in swept:
            settings.pop(key, None)
        state.settings = settings
        workers = self.query_one("#workers", Input).value.strip()
        state.workers = None
        if workers:
            if workers.isdigit() and int(workers) >= 1:
                state.workers = int(workers)
            else:
                errors["workers"] = f"workers: a whole number of 1 or more (got {workers!r})"
        state.executor = str(self.query_one("#executor", Select).value)
        errors.update(self.sweep_errors)
        swept_rows = {}
        for table in ("grid", "zip"):
            for i in range(2):
                key = self.query_one(f"#{table}-key-{i}", Input).value.strip()
                if key:
                    try:
                        swept_rows[resolve_key(state.config_type, key)] = f"{table}-{i}"
                    except BenchError:
                        pass
        if self.query_one("#seeds", Input).value.strip():
            swept_rows[SEED_KEY] = "seeds"
        try:
            runs = state.runs()
        except BenchError as exc:
            errors["sweep"] = str(exc)
            runs = []
        kind = get_kind(state.kind)
        for run in runs:  # the kind's own check, on every run's config
            try:
                kind.check_config(apply_overrides(state.config_type(), {**settings, **run}))
            except BenchError as exc:
                key = max((k for k in types if k in str(exc)), key=len, default="sweep")
                where = swept_rows.get(key) if key in run else key
                if where is None or where not in self.field_names():
                    where = "sweep"
                errors.setdefault(where, str(exc))
        self.show_errors(errors)
        self.update_count(len(runs), errors)
        return [f"{name}: {text}" if not text.startswith(name) else text for name, text in errors.items()]

    def field_names(self) -> set[str]:
        names = {key for form in self.forms() for key in form.keys}
        return names | {"data.path", "sweep", "seeds", "workers"} | {f"{t}-{i}" for t in ("grid", "zip") for i in range(2)}

    def show_errors(self, errors: dict[str, str]) -> None:
        self.errors = errors
        for form in self.forms():
            for key in form.keys:
                form.show_error(key, errors.get(key))
        self.query_one("#data-path", Input).set_class("data.path" in errors, "-invalid")
        if "data.path" in errors:
            self.query_one("#data-error", Static).update(Text(f"✗ {errors['data.path']}", style="red"))
        for table in ("grid", "zip"):
            for i in range(2):
                text = errors.get(f"{table}-{i}")
                line = self.query_one(f"#{table}-error-{i}", Static)
                line.update(f"✗ {text}" if text else "")
                line.set_class(bool(text), "-shown")
                for part in ("key", "values"):
                    self.query_one(f"#{table}-{part}-{i}", Input).set_class(bool(text), "-invalid")
        line = self.query_one("#seeds-error", Static)
        line.update(f"✗ {errors['seeds']}" if "seeds" in errors else "")
        line.set_class("seeds" in errors, "-shown")
        self.query_one("#seeds", Input).set_class("seeds" in errors, "-invalid")
        line = self.query_one("#workers-error", Static)
        line.update(f"✗ {errors['workers']}" if "workers" in errors else "")
        line.set_class("workers" in errors, "-shown")
        self.query_one("#workers", Input).set_class("workers" in errors, "-invalid")
        self.query_one("#sweep-error", Static).update(f"✗ {errors['sweep']}" if "sweep" in errors else "")

    def problems(self) -> list[str]:
        return self.check()

    @on(ConfigForm.Changed)
    def value_changed(self, event: ConfigForm.Changed) -> None:
        self.check()

    # ----------------------------------------------------------- dataset
    @on(Select.Changed, "#dataset-select")
    async def dataset_changed(self, event: Select.Changed) -> None:
        state: SetupState = self.app.setup_state
        before = (state.kind, state.dataset)
        state.set_dataset(str(event.value))
        if state.kind != before[0]:  # a new kind starts from its defaults: the folder too
            folder = self.query_one("#data-path", Input)
            with self.prevent(Input.Changed):
                folder.value = ""
            folder.disabled = "data.path" not in leaf_types(state.config_type)  # e.g. a kind whose data is built in
            self.loaded_path = ""
            await self.rebuild_forms()
            self.fill_sweep()
            self.sweep_errors = {}
        if (state.kind, state.dataset) != before:
            self.load_data(state.config())
        self.check()

    @on(Input.Changed, "#data-path")
    @on(Input.Changed, "#workers")
    @on(Select.Changed, "#executor")
    def folder_typed(self) -> None:
        self.check()

    @on(Input.Submitted, "#data-path")
    @on(Input.Blurred, "#data-path")
    def check_data(self) -> None:
        """The folder is applied when it is left (or on enter), not only on enter."""
        self.check()
        path = self.app.setup_state.settings.get("data.path", "")
        if "data.path" in self.errors or path == self.loaded_path:
            return
        self.loaded_path = path
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
        self.query_one("#data-error", Static).update(Text(f"✗ {text}", style="red"))
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
            await parent.mount(new)

    # ------------------------------------------------------------- sweep
    def fill_sweep(self) -> None:
        state: SetupState = self.app.setup_state
        # a fill is not an edit: sweep_changed would rebuild the sweep from these rows
        # and drop a loaded preset's explicit runs (extra_runs)
        with self.prevent(Input.Changed):
            for table, values in (("grid", state.grid), ("zip", state.zipped)):
                items = [(k, v) for k, v in values.items() if not (table == "grid" and k == SEED_KEY)]
                for i in range(2):
                    key, vals = items[i] if i < len(items) else ("", [])
                    self.query_one(f"#{table}-key-{i}", Input).value = key
                    self.query_one(f"#{table}-values-{i}", Input).value = ", ".join(
                        str(v).lower() if isinstance(v, bool) else str(v) for v in vals)
            self.query_one("#seeds", Input).value = ", ".join(str(v) for v in state.grid.get(SEED_KEY, []))

    @on(Input.Changed, ".sweep-key, .sweep-values")
    def sweep_changed(self, event: Input.Changed) -> None:
        """Rebuild the sweep from its rows; a row that does not parse is an
        error under that row (it blocks the run, never silently drops an axis)."""
        state: SetupState = self.app.setup_state
        self.sweep_errors = {}
        for table in ("grid", "zip"):
            target = state.grid if table == "grid" else state.zipped
            target.clear()
            for i in range(2):
                key = self.query_one(f"#{table}-key-{i}", Input).value.strip()
                values = self.query_one(f"#{table}-values-{i}", Input).value
                if not key and values.strip():
                    self.sweep_errors[f"{table}-{i}"] = "values without a key"
                elif key:
                    try:
                        key = resolve_key(state.config_type, key)  # an unknown key first, then its values
                        if not values.strip():
                            raise BenchError(f"{key}: no values")
                        state.set_sweep(table, key, values)
                    except BenchError as exc:
                        self.sweep_errors[f"{table}-{i}"] = str(exc)
        seeds = self.query_one("#seeds", Input).value
        if seeds.strip():  # seeds are a grid over system.seed, saved and launched as such
            try:
                if SEED_KEY in state.grid or SEED_KEY in state.zipped:
                    raise BenchError(f"{SEED_KEY} is also swept in a row above: use one or the other")
                state.set_sweep("grid", SEED_KEY, seeds)
            except BenchError as exc:
                self.sweep_errors["seeds"] = str(exc)
        state.extra_runs = []
        self.check()

    def update_count(self, runs: int, errors: dict[str, str]) -> None:
        state: SetupState = self.app.setup_state
        if errors:
            text = f"[red]✗ {len(errors)} problem{'s' if len(errors) != 1 else ''}: nothing runs until fixed[/]"
        else:
            text = f"[b]{runs} run{'s' if runs != 1 else ''}[/] ({state.kind}: {state.experiment})"
        self.query_one("#run-count", Static).update(text)

    # ----------------------------------------------------------- actions
    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        self.app.action_run()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Save only the experiment on screen, under a name that does not exist yet."""
        problems = self.check()
        if problems:
            self.notify("not saved; fix first:\n" + "\n".join(f"• {p}" for p in problems), severity="error")
            return
        state = dataclasses.replace(self.app.setup_state, others=[], report=False)

        def done(path: Path | None) -> None:
            if path is None:
                return
            try:
                state.save(path)
            except (BenchError, OSError) as exc:
                self.notify(f"not saved: {exc}", severity="error")
                return
            self.notify(f"saved {path}: run it with  benchtui replay {path}")

        self.app.push_screen(SavePreset(free_name(self.app.presets_dir, f"{state.name}-{state.experiment}")), done)

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
            state = self.app.setup_state
            folder = self.query_one("#data-path", Input)
            with self.prevent(Input.Changed):
                folder.value = str(state.settings.get("data.path", ""))
            folder.disabled = "data.path" not in leaf_types(state.config_type)
            await self.rebuild_forms()
            self.fill_sweep()
            self.sweep_errors = {}
            self.check()
            self.loaded_path = state.settings.get("data.path", "")
            self.query_one("#data-summary", Static).update("checking…")
            self.load_data(state.config())  # the preset's dataset, not the one shown before
            self.notify(f"loaded {choice[0].name} › {choice[1]}")

        self.app.push_screen(LoadPreset(self.app.presets_dir), done)
