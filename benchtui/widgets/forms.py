"""A form generated from a config dataclass: one Input per dotted key, the
default as placeholder, bad values refused where they are typed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from engine.config import describe_keys, leaf_types, parse_value
from engine.errors import BenchError


def field_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


class ConfigForm(VerticalScroll):
    """Rows for every key of ``config_type`` whose prefix is in ``sections``."""

    DEFAULT_CSS = """
    ConfigForm { height: 1fr; }
    ConfigForm .form-row { height: 3; }
    ConfigForm .form-key { width: 24; padding: 1 1 0 0; }
    ConfigForm Input { width: 1fr; }
    ConfigForm .form-help { color: $text-muted; padding: 0 0 0 24; height: auto; }
    ConfigForm #form-error { color: $error; height: auto; }
    """

    class Changed(Message):
        """A value was typed: ``value`` is the parsed value, or None when cleared."""

        def __init__(self, key: str, text: str) -> None:
            super().__init__()
            self.key, self.text = key, text

    def __init__(self, config_type: type, sections: tuple[str, ...], values: dict, **kwargs):
        super().__init__(**kwargs)
        self.config_type, self.sections, self.values = config_type, sections, values
        self.types = leaf_types(config_type)

    def compose(self) -> ComposeResult:
        yield Static("", id="form-error")
        for key, default, text in describe_keys(self.config_type):
            if key.split(".")[0] not in self.sections or key == "data.dataset":
                continue
            value = self.values.get(key)
            shown = "" if value is None else (",".join(map(str, value)) if isinstance(value, tuple | list)
                                               else str(value).lower() if isinstance(value, bool) else str(value))
            with Horizontal(classes="form-row"):
                yield Label(key, classes="form-key")
                yield Input(value=shown, placeholder=f"default {default}", id=field_id(key))
            yield Static(text, classes="form-help")

    def on_input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "")[2:].replace("--", ".")
        if key not in self.types:
            return
        event.stop()
        error = self.query_one("#form-error", Static)
        try:
            if event.value.strip():
                parse_value(key, self.types[key], event.value.strip())
        except BenchError as exc:
            event.input.add_class("-invalid")
            error.update(f"✗ {exc}")
            return
        event.input.remove_class("-invalid")
        error.update("")
        self.post_message(self.Changed(key, event.value))
