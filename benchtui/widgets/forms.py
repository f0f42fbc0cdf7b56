"""The Setup screen's panes. Each pane owns its fields: it writes what is
typed into the setup state (``benchtui.setup_state.SetupState``, UI-free)
and posts ``SetupPane.Edited``; the screen then validates the whole setup
(``validate(state)``) and hands every pane the problems (a reactive), which
each shows under the field it concerns.

A field's widgets and its error line carry the field's name (``name=``: a
config key, ``workers``, ``grid-0``, ``run-2``…), which is how problems
find them."""

from __future__ import annotations

import typing

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, Select, Static, Switch

from benchtui.setup_state import SEED_KEY, SetupState, run_text, shown_value
from engine.config import describe_keys, get_value, leaf_types

SWEEP_ROWS = 2  # empty grid and zip rows offered (more when a loaded sweep has more keys)


def field_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


def error_id(key: str) -> str:
    return "e-" + key.replace(".", "--")


def shown_text(value) -> str:
    return "" if value is None else shown_value(value)


class SetupPane(Vertical):
    """A part of the setup that owns its fields. ``problems`` (field ->
    text) is set by the screen after each edit."""

    DEFAULT_CSS = """
    SetupPane { height: auto; }
    SetupPane .field-error { color: $error; height: auto; display: none; }
    SetupPane .field-error.-shown { display: block; }
    """

    problems: reactive[dict] = reactive(dict, always_update=True, init=False)

    class Edited(Message):
        """The state changed: ``field`` is what was edited; ``structure`` when
        the set of swept keys may have changed (the Model tab marks them)."""

        def __init__(self, field: str, structure: bool = False) -> None:
            super().__init__()
            self.field, self.structure = field, structure

    def __init__(self, state: SetupState, **kwargs):
        super().__init__(**kwargs)
        self.state = state

    def edited(self, field: str, structure: bool = False) -> None:
        self.post_message(self.Edited(field, structure))

    def watch_problems(self, problems: dict) -> None:
        self.show_problems(problems)

    def show_problems(self, problems: dict) -> None:
        for line in self.query(".field-error").results(Static):
            if line.parent is not None and _owner(line) is not self:
                continue  # a nested pane shows its own
            text = problems.get(line.name or "")
            line.update(f"✗ {escape(text)}" if text else "")
            line.set_class(bool(text), "-shown")
        for widget in self.query(".field"):
            if _owner(widget) is self:
                widget.set_class((widget.name or "") in problems, "-invalid")


def _owner(widget) -> SetupPane | None:
    node = widget.parent
    while node is not None and not isinstance(node, SetupPane):
        node = node.parent
    return node


class ConfigForm(SetupPane):
    """Rows for every key of the kind's config whose section is in
    ``sections``: a label and its widget on one line (an Input, a Switch for
    booleans, a Select for choices), its help below, its error line under
    it. A swept key is marked, shows its values, and takes no single value:
    typing one is refused under the field (``validate``)."""

    DEFAULT_CSS = """
    ConfigForm .form-row { height: 1; }
    ConfigForm .form-key { width: 24; padding: 0 1 0 0; }
    ConfigForm .form-key.-swept { color: $warning; text-style: bold; }
    ConfigForm Input, ConfigForm Select { width: 1fr; }
    ConfigForm Switch { border: none; height: 1; padding: 0; width: 8; }
    ConfigForm .form-help { color: $text-muted; padding: 0 0 0 24; height: auto; }
    ConfigForm .form-swept { color: $warning; padding: 0 0 0 24; height: auto; }
    ConfigForm .field-error { padding: 0 0 0 24; }
    """

    swept: reactive[dict] = reactive(dict, recompose=True, init=False)

    def __init__(self, state: SetupState, sections: tuple[str, ...], skip: tuple[str, ...] = (), **kwargs):
        super().__init__(state, **kwargs)
        self.config_type, self.sections = state.config_type, sections
        self.types = leaf_types(self.config_type)
        self.defaults = self.config_type()
        self.keys = [key for key, _d, _t in describe_keys(self.config_type)
                     if key.split(".")[0] in sections and key != "data.dataset" and key not in skip]
        self.texts: dict[str, str] = {}  # what was typed, kept when the form is redrawn
        self.set_reactive(ConfigForm.swept, state.swept_marks())

    def choices(self, key: str) -> tuple | None:
        ftype = self.types[key]
        return typing.get_args(ftype) if typing.get_origin(ftype) is typing.Literal else None

    def compose(self) -> ComposeResult:
        helps = {key: text for key, _default, text in describe_keys(self.config_type)}
        for key in self.keys:
            default = get_value(self.defaults, key)
            value = self.state.settings.get(key)
            values, every_run = self.swept.get(key, ([], False))
            swept = key in self.swept and every_run
            with Horizontal(classes="form-row"):
                yield Label(("⟳ " if key in self.swept else "") + key,
                            classes="form-key" + (" -swept" if key in self.swept else ""))
                if swept:  # whatever the type: a text field, empty, that shows the sweep's values
                    values = ", ".join(shown_value(v) for v in values)
                    yield Input(value=self.texts.get(key, shown_text(value)), placeholder=f"swept: {values}",
                                compact=True, id=field_id(key), name=key, classes="field")
                elif self.types[key] is bool:
                    yield Switch(value=bool(default if value is None else value), animate=False, id=field_id(key),
                                 name=key, classes="field")
                elif self.choices(key) is not None:
                    yield Select([(str(c), c) for c in self.choices(key)], value=default if value is None else value,
                                 allow_blank=False, compact=True, id=field_id(key), name=key, classes="field")
                else:
                    yield Input(value=self.texts.get(key, shown_text(value)),
                                placeholder=f"default {shown_text(default) or '(empty)'}",
                                compact=True, id=field_id(key), name=key, classes="field")
            if swept:
                yield Static(f"swept on the Sweep tab ({len(self.swept[key][0])} values); set it there",
                             classes="form-swept", markup=False)
            elif key in self.swept:
                shown = ", ".join(shown_value(v) for v in self.swept[key][0])
                yield Static(f"swept in some runs ({shown}, Sweep tab); this value is for the others",
                             classes="form-swept", markup=False)
            yield Static(helps.get(key, ""), classes="form-help", markup=False)
            yield Static("", classes="field-error", id=error_id(key), name=key)

    def on_mount(self) -> None:
        self.show_problems(self.problems)

    def raw(self, key: str):
        """What the field holds: text for an Input, the value for a Switch or Select."""
        found = self.query(f"#{field_id(key)}")
        return found.first().value if found else None

    def _key_of(self, widget) -> str | None:
        return widget.name if widget.name in self.types and _owner(widget) is self else None

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        key = self._key_of(event.input)
        if key is not None:
            event.stop()
            self.texts[key] = event.value
            self.state.set_value(key, event.value)
            self.edited(key)

    @on(Switch.Changed)
    @on(Select.Changed)
    def _chosen(self, event) -> None:
        widget = event.control
        key = self._key_of(widget)
        if key is not None:
            event.stop()
            self.state.set_field(key, widget.value)
            self.edited(key)

    def watch_swept(self) -> None:
        self.call_after_refresh(self.show_problems, self.problems)


class SweepRows(SetupPane):
    """The grid and zip rows (key, comma-separated values) and the seeds
    field; every edit rebuilds the sweep from all of them."""

    DEFAULT_CSS = """
    SweepRows .form-row { height: 1; }
    SweepRows .field-error { padding: 0 0 0 16; }
    """

    def compose(self) -> ComposeResult:
        state = self.state
        for table, values in (("grid", state.grid), ("zip", state.zipped)):
            items = [(k, v) for k, v in values.items() if not (table == "grid" and k == SEED_KEY)]
            for i in range(max(SWEEP_ROWS, len(items) + 1)):
                key, vals = items[i] if i < len(items) else ("", [])
                sep = "; " if vals and isinstance(vals[0], (list, tuple)) else ", "
                name = f"{table}-{i}"
                with Horizontal(classes="form-row"):
                    yield Label(f"{table} key {i + 1}", classes="form-key")
                    yield Input(key, placeholder="e.g. optim.lr", id=f"{table}-key-{i}", compact=True,
                                classes="sweep-key field", name=name)
                    yield Input(sep.join(shown_value(v) for v in vals), placeholder="values, comma-separated",
                                id=f"{table}-values-{i}", compact=True, classes="sweep-values field", name=name)
                yield Static("", id=f"{table}-error-{i}", classes="field-error", name=name)
        with Horizontal(classes="form-row"):
            yield Label("seeds", classes="form-key")
            yield Input(", ".join(str(v) for v in state.grid.get(SEED_KEY, [])), id="seeds", compact=True,
                        placeholder="e.g. 42, 43, 44: grid and zip runs once per seed (empty: one)",
                        classes="sweep-values field", name="seeds")
        yield Static("", id="seeds-error", classes="field-error", name="seeds")

    def rows(self) -> list[tuple[str, str, str, str]]:
        out = []
        for key_input in self.query(".sweep-key").results(Input):
            table, _, index = (key_input.id or "").replace("-key", "").partition("-")
            values = self.query_one(f"#{table}-values-{index}", Input).value
            out.append((key_input.name or "", table, key_input.value, values))
        return out

    @on(Input.Changed, ".sweep-key, .sweep-values, #seeds")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.state.set_sweep_rows(self.rows(), self.query_one("#seeds", Input).value)
        self.edited(event.input.name or "sweep", structure=True)


class ExplicitRuns(SetupPane):
    """A preset's explicit runs (``runs = [...]``), one editable line each
    (``key=value; key=value``), removable with its ✕ button."""

    DEFAULT_CSS = """
    ExplicitRuns .form-row { height: 1; }
    ExplicitRuns .field-error { padding: 0 0 0 16; }
    ExplicitRuns Button { min-width: 3; width: 3; margin: 0 0 0 1; }
    ExplicitRuns .explicit-run { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        runs = self.state.extra_runs
        if runs:
            yield Static(f"explicit runs ({len(runs)}): one line each, key=value; key=value (✕ removes)",
                         classes="form-help", markup=False)
        for i, run in enumerate(runs):
            name = f"run-{i}"
            with Horizontal(classes="form-row"):
                yield Label(f"run {i + 1}", classes="form-key")
                yield Input(run_text(run), compact=True, id=f"run-{i}", name=name,
                            placeholder="empty: the experiment's values only", classes="explicit-run field")
                yield Button("✕", id=f"remove-run-{i}", name=name, compact=True, tooltip="remove this run")
            yield Static("", id=f"run-error-{i}", classes="field-error", name=name)

    @on(Input.Changed, ".explicit-run")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        index = int((event.input.name or "run-0").split("-")[1])
        self.state.set_run(index, event.value)
        self.edited(event.input.name or "sweep", structure=True)

    @on(Button.Pressed)
    async def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        index = int((event.button.name or "run-0").split("-")[1])
        self.state.remove_run(index)
        await self.recompose()
        self.edited("sweep", structure=True)
        runs = self.query(".explicit-run")
        if runs:  # the keyboard stays in the list
            runs[min(index, len(runs) - 1)].focus()
