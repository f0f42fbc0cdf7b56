"""Gallery: the test images one model gets right and another gets wrong
(any gallery.json under the runs folder), with file names and both
probabilities; the selected image shown inline."""

from __future__ import annotations

from pathlib import Path

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
        self.gallery = read_json(path) or {}
        if "images" not in self.gallery:
            title.update(f"{path}: {self.gallery.get('error', 'unreadable')}")
            return
        better, worse = self.gallery["better"], self.gallery["worse"]
        title.update(
            f"[b]{path.parent.relative_to(self.app.runs_dir)}[/]: {len(self.gallery['images'])} test images right by "
            f"{better['mode']} ({better['run']}, acc {better['test_accuracy']:.3f}) and wrong by {worse['mode']} "
            f"({worse['run']}, acc {worse['test_accuracy']:.3f}). {self.gallery.get('weights', '')}. "
            f"{self.gallery.get('data', '')}")
        positive = self.gallery.get("probabilities_are_of", "positive")
        for row in self.gallery["images"]:
            listing.add_option(Option(
                f"{Path(row['file']).name}  P({positive}) {row['better_prob']:.2f} vs {row['worse_prob']:.2f}"))
        if self.gallery["images"]:
            listing.highlighted = 0
            self.show_image(0)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None:
            self.show_image(event.option_index)

    def show_image(self, index: int) -> None:
        if not self.gallery:
            return
        row = self.gallery["images"][index]
        root = Path(self.gallery.get("root") or ".")
        path = root / row["file"]
        positive = self.gallery.get("probabilities_are_of", "positive")
        names = self.gallery.get("class_names") or []
        truth = names[row["label"]] if row["label"] < len(names) else f"class {row['label']}"
        text = (f"{row['file']}\ntrue: {truth}; P({positive}): "
                f"{self.gallery['better']['mode']} {row['better_prob']:.3f}, "
                f"{self.gallery['worse']['mode']} {row['worse_prob']:.3f}")
        if not path.is_file():
            text += f"\n(image file {path} not found)"
        self.query_one("#gallery-caption", Static).update(text)
        image = self.query_one("#gallery-image", Thumbnail)
        image.image = str(path) if path.is_file() else None
