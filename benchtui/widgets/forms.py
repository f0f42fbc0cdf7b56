"""A form generated from a config dataclass: one row per dotted key (a label
and its widget on one line: an Input, a Switch for booleans, a Select for
choices), its help below, and its own error line that stays until the value
is fixed. The screen that owns the form checks the values (it knows the
whole config) and hands each field its error."""

from __future__ import annotations

import typing

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static, Switch

from engine.config import describe_keys, get_value, leaf_types


def field_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


def error_id(key: str) -> str:
    return "e-" + key.replace(".", "--")


def shown_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


class ConfigForm(VerticalScroll):
    """Rows for every key of ``config_type`` whose prefix is in ``sections``."""

    DEFAULT_CSS = """
    ConfigForm { height: 1fr; }
    ConfigForm .form-row { height: 1; }
    ConfigForm .form-key { width: 24; padding: 0 1 0 0; }
    ConfigForm Input, ConfigForm Select { width: 1fr; }
    ConfigForm Switch { border: none; height: 1; padding: 0; width: 8; }
    ConfigForm .form-help { color: $text-muted; padding: 0 0 0 24; height: auto; }
    ConfigForm .field-error { color: $error; padding: 0 0 0 24; height: auto; display: none; }
    ConfigForm .field-error.-shown { display: block; }
    """

    class Changed(Message):
        """A field was edited or left: the screen re-checks the whole setup."""

        def __init__(self, key: str, left: bool = False) -> None:
            super().__init__()
            self.key, self.left = key, left

    def __init__(self, config_type: type, sections: tuple[str, ...], values: dict, **kwargs):
        super().__init__(**kwargs)
        self.config_type, self.sections, self.values = config_type, sections, values
        self.types = leaf_types(config_type)
        self.defaults = config_type()
        self.keys = [key for key, _d, _t in describe_keys(config_type)
                     if key.split(".")[0] in sections and key != "data.dataset"]

    def choices(self, key: str) -> tuple | None:
        ftype = self.types[key]
        return typing.get_args(ftype) if typing.get_origin(ftype) is typing.Literal else None

    def compose(self) -> ComposeResult:
        helps = {key: text for key, _default, text in describe_keys(self.config_type)}
        for key in self.keys:
            default = get_value(self.defaults, key)
            value = self.values.get(key, None)
            with Horizontal(classes="form-row"):
                yield Label(key, classes="form-key")
                if self.types[key] is bool:
                    yield Switch(value=bool(default if value is None else value), animate=False, id=field_id(key))
                elif self.choices(key) is not None:
                    yield Select([(str(c), c) for c in self.choices(key)], value=default if value is None else value,
                                 allow_blank=False, compact=True, id=field_id(key))
                else:
                    yield Input(value=shown_text(value), placeholder=f"default {shown_text(default) or '(empty)'}",
                                compact=True, id=field_id(key))
            yield Static(helps.get(key, ""), classes="form-help")
            yield Static("", classes="field-error", id=error_id(key))

    def raw(self, key: str):
        """What the field holds: text for an Input, the value for a Switch or
        Select; None while the field is not composed (the form is being built)."""
        found = self.query(f"#{field_id(key)}")
        return found.first().value if found else None

    def show_error(self, key: str, text: str | None) -> None:
        found, lines = self.query(f"#{field_id(key)}"), self.query(f"#{error_id(key)}")
        if not found or not lines:  # not composed yet: the next check shows it
            return
        widget, line = found.first(), lines.first(Static)
        widget.set_class(bool(text), "-invalid")
        line.set_class(bool(text), "-shown")
        line.update(f"✗ {text}" if text else "")

    def _key_of(self, widget) -> str | None:
        key = (widget.id or "")[2:].replace("--", ".")
        return key if key in self.types else None

    def on_input_changed(self, event: Input.Changed) -> None:
        self._changed(event, event.input)

    def on_input_blurred(self, event: Input.Blurred) -> None:
        self._changed(event, event.input, left=True)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self._changed(event, event.switch)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._changed(event, event.select)

    def _changed(self, event: Message, widget, left: bool = False) -> None:
        key = self._key_of(widget)
        if key is not None:
            event.stop()
            self.post_message(self.Changed(key, left))
