"""Key bindings of every screen, generated from their BINDINGS: one short
paragraph per screen, so that the whole of it fits 80×24 without paging."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from rich.text import Text


def keys_of(bindings) -> str:
    """``key description · key description …`` for the bindings that have a description."""
    rows = [b for b in bindings if isinstance(b, Binding) and b.description]
    return " · ".join(f"{b.key_display or b.key.replace(',', '/')} {b.tooltip or b.description}" for b in rows)


def bindings_text(screens: dict[str, type], everywhere=()) -> Text:
    text = Text()
    text.append("benchtui keys", style="bold")
    text.append("  (esc closes; ctrl+p lists every action; while typing in a field, esc leaves it)\n\n",
                style="dim")
    paragraphs = [("everywhere", keys_of(everywhere))] if everywhere else []
    paragraphs += [(name, keys_of(getattr(screen, "BINDINGS", []))) for name, screen in screens.items()]
    for name, keys in paragraphs:
        if keys:
            text.append(f"{name}: ", style="bold")
            text.append(keys + "\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, screens: dict[str, type], everywhere=()):
        super().__init__()
        self.rendered = bindings_text(screens, everywhere)
        self.text = self.rendered.plain

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.rendered, id="help-text")

    def action_dismiss(self) -> None:
        self.dismiss(None)
