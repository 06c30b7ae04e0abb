"""Kivy's markup renderer with words of different fonts on one baseline.

Kivy places a word of a smaller font ``(line height - word height) / 1.25`` below the line's top, which puts
Latin digits and letters far below Arabic-script words (Noto Sans Arabic is much taller than DejaVu Sans).
Here every word is drawn so that the baselines meet: ``line ascent - word ascent`` below the top.
"""

from __future__ import annotations

from typing import Any

from kivy.core.text.markup import MarkupLabel


class BaselineMarkupLabel(MarkupLabel):
    """MarkupLabel that aligns words by their font's ascent (no sub/superscript support needed here)."""

    def _ascent(self, options: dict[str, Any]) -> float:
        self.options = options
        self.resolve_font_name()
        return float(self.get_ascent())

    def render_lines(self, lines: list[Any], options: dict[str, Any], render_text: Any, y: float,
                     size: tuple[int, int]) -> float:
        padding_left, padding_right = options["padding"][0], options["padding"][2]
        width = size[0]
        halign = options["halign"]
        for layout_line in lines:
            lw, lh = layout_line.w, layout_line.h
            x = padding_left
            if halign == "center":
                x = min(int(width - lw), max(int(padding_left), int((width - lw + padding_left - padding_right) / 2)))
            elif halign == "right":
                x = max(0, int(width - lw - padding_right))
            layout_line.x, layout_line.y = x, y
            ascents = [self._ascent(word.options) for word in layout_line.words]
            top = max(ascents, default=0.0)
            for word, ascent in zip(layout_line.words, ascents, strict=True):
                self.options = word.options
                if word.text:
                    render_text(word.text, x, y + (top - ascent))
                x += word.lw
            y += lh
        self.options = options
        return y
