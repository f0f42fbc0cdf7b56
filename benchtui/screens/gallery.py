"""Gallery: the images a figure picked out (any ``gallery.json`` under the
runs folder, written by an experiment's figures), each with its caption; the
selected image shown inline.

A gallery.json names its own content, so this screen knows no experiment:
``{"title", "note", "root", "images": [{"path", "label", "caption"}]}`` —
``path`` relative to ``root`` (or to the gallery's folder), ``label`` the
one-line list entry, ``caption`` the text under the image.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from benchtui.widgets.thumbnail import Thumbnail
from engine.io import read_json


def find_galleries(runs_dir: Path) -> list[Path]:
    return sorted(Path(runs_dir).glob("*/*/gallery.json"), key=lambda p: p.stat().st_mtime, reverse=True)


class GalleryScreen(Screen):
    SUB_TITLE = "Gallery"
    BINDINGS = [
        Binding("n", "next_gallery", "next gallery"),
        Binding("R", "reload", "reload", show=False),  # ctrl+r runs the sweep, from every screen
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="gallery-title")
        with Horizontal(id="gallery-body"):
            yield OptionList(id="gallery-list")
            with Vertical(id="gallery-view"):
                yield Thumbnail(id="gallery-image")
                yield Static("", id="gallery-caption")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.index = 0
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.galleries = find_galleries(self.app.runs_dir)
        self.show()

    def action_next_gallery(self) -> None:
        if self.galleries:
            self.index = (self.index + 1) % len(self.galleries)
            self.show()

    def show(self) -> None:
        title = self.query_one("#gallery-title", Static)
        listing = self.query_one("#gallery-list", OptionList)
        listing.clear_options()
        self.gallery = None
        if not self.galleries:
            title.update("No gallery yet: a sweep whose figures include a gallery writes one (see benchtui replay --help).")
            return
        path = self.galleries[self.index % len(self.galleries)]
        gallery = read_json(path)
        where = escape(str(path.parent.relative_to(self.app.runs_dir)))
        if not isinstance(gallery, dict) or not isinstance(gallery.get("images"), list):
            reason = gallery.get("error", "unreadable") if isinstance(gallery, dict) else "unreadable"
            title.update(f"[b]{where}[/]: {escape(str(reason))}  (n: next gallery)")
            return
        self.gallery, self.folder = gallery, path.parent
        more = f"  ({self.index % len(self.galleries) + 1}/{len(self.galleries)}, n: next)" if len(self.galleries) > 1 else ""
        title.update(f"[b]{where}[/]: {escape(str(gallery.get('title', '')))}{more}\n"
                     f"[dim]{escape(str(gallery.get('note', '')))}[/]")
        for row in gallery["images"]:
            listing.add_option(Option(escape(str(row.get("label") or row.get("path", "?")))))
        if gallery["images"]:
            listing.highlighted = 0
            self.show_image(0)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None:
            self.show_image(event.option_index)

    def image_path(self, row: dict) -> Path:
        root = Path(self.gallery.get("root") or self.folder)
        return root / str(row.get("path", ""))

    def show_image(self, index: int) -> None:
        if not self.gallery:
            return
        row = self.gallery["images"][index]
        path = self.image_path(row)
        text = escape(str(row.get("caption") or row.get("label") or row.get("path", "")))
        if not path.is_file():
            text += f"\n(image file {escape(str(path))} not found)"
        self.query_one("#gallery-caption", Static).update(text)
        image = self.query_one("#gallery-image", Thumbnail)
        image.image = str(path) if path.is_file() else None
