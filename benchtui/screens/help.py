"""Key bindings of every screen, generated from their BINDINGS."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown


def bindings_markdown(screens: dict[str, type]) -> str:
    lines = ["# benchtui keys", "",
             "Everywhere: `1`/`f2` setup, `2`/`f3` monitor, `3`/`f4` runs, `4`/`f5` gallery, `?`/`f1` help, "
             "`ctrl+p` command palette, `q` quit (stops a running sweep cleanly), `tab` moves between fields "
             "(while typing in a field, use the f-keys).", ""]
    for name, screen in screens.items():
        rows = [b for b in getattr(screen, "BINDINGS", []) if isinstance(b, Binding)]
        if not rows:
            continue
        lines += [f"## {name}", "", "| key | does |", "|---|---|"]
        lines += [f"| `{b.key}` | {b.description} |" for b in rows]
        lines.append("")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, screens: dict[str, type]):
        super().__init__()
        self.text = bindings_markdown(screens)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(self.text)

    def action_dismiss(self) -> None:
        self.dismiss(None)
