"""An inline image: Kitty or Sixel graphics where the terminal supports
them, coloured half-blocks otherwise (textual-image picks)."""

from __future__ import annotations

from textual_image.widget import Image as Thumbnail

__all__ = ["Thumbnail"]
