"""Labelled contact sheets of a sweep: a grid of results with headers, inputs and losses.

Layout (all boxes computed by :func:`layout_sheet`, a pure function the tests check)::

    title ...................................................................
    content   [row header]  column header 1   column header 2   ...
    [thumb]                 +-------------+   +-------------+
    style                   |   cell 1    |   |   cell 2    |
    [thumb]                 +-------------+   +-------------+
                            distances         distances       (when the sweep measured them)
                            losses, time      losses, time

The first swept setting runs along the columns, the second (for 2-D grids) down the rows, with
a row-header column between the input thumbnails and the grid. Text uses Pillow's default font
at a size that follows the cell size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

#: At most this many text lines under a cell.
MAX_CAPTION_LINES = 4


@dataclass(frozen=True)
class Box:
    """A rectangle on the sheet: top-left corner and size, in pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        """x of the first column right of the box."""
        return self.x + self.w

    @property
    def bottom(self) -> int:
        """y of the first row below the box."""
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes on a contact sheet."""

    width: int
    height: int
    font_size: int
    small_font_size: int
    title: Box
    content_label: Box
    content_thumb: Box
    style_label: Box
    style_thumb: Box
    col_headers: list[Box]
    row_headers: list[Box]  #: empty for a 1-D sweep
    cells: list[list[Box]]  #: ``cells[row][col]``: the result images
    captions: list[list[Box]]  #: the loss text under each cell
    header_lines: int = 3
    caption_lines: int = 2

    def boxes(self) -> list[Box]:
        """Every box (for overlap and bounds checks)."""
        out = [self.title, self.content_label, self.content_thumb, self.style_label, self.style_thumb]
        out += self.col_headers + self.row_headers
        for row in (*self.cells, *self.captions):
            out += row
        return out


def font_sizes(cell_w: int, font_size: int | None = None) -> tuple[int, int]:
    """(headers, captions) font sizes of a sheet whose cells are ``cell_w`` px wide."""
    fs = font_size or max(11, min(28, cell_w // 15))
    return fs, max(10, round(fs * 0.85))


def layout_sheet(
    rows: int,
    cols: int,
    cell_w: int,
    cell_h: int,
    *,
    two_d: bool,
    font_size: int | None = None,
    caption_lines: int = 2,
) -> SheetLayout:
    """Compute the layout of a ``rows`` x ``cols`` sheet whose result images fit ``cell_w`` x ``cell_h``.

    ``caption_lines``: text lines reserved under each cell.
    """
    if rows < 1 or cols < 1 or cell_w < 16 or cell_h < 16:
        raise ValueError(f"layout_sheet: need at least one 16x16 px cell, got {rows}x{cols} of {cell_w}x{cell_h}")
    fs, small = font_sizes(cell_w, font_size)
    line, small_line = round(fs * 1.3), round(small * 1.3)
    pad = max(6, fs // 2)
    header_lines = 3
    thumb_w = max(64, cell_w // 2)
    thumb_h = max(32, cell_h // 2)

    title = Box(pad, pad, 0, line)  # width set below
    top = title.bottom + pad
    content_label = Box(pad, top, thumb_w, line)
    content_thumb = Box(pad, content_label.bottom, thumb_w, thumb_h)
    style_label = Box(pad, content_thumb.bottom + pad, thumb_w, line)
    style_thumb = Box(pad, style_label.bottom, thumb_w, thumb_h)
    x = pad + thumb_w + 2 * pad
    row_header_x = x
    if two_d:
        x += thumb_w + pad
    grid_x = x
    header_h = header_lines * line
    grid_y = top + header_h + pad
    caption_h = caption_lines * small_line + pad // 2
    row_h = cell_h + caption_h + pad
    col_headers = [Box(grid_x + c * (cell_w + pad), top, cell_w, header_h) for c in range(cols)]
    cells = [
        [Box(grid_x + c * (cell_w + pad), grid_y + r * row_h, cell_w, cell_h) for c in range(cols)] for r in range(rows)
    ]
    captions = [[Box(b.x, b.bottom + pad // 2, cell_w, caption_h - pad // 2) for b in row] for row in cells]
    row_headers = [Box(row_header_x, grid_y + r * row_h, thumb_w, cell_h) for r in range(rows)] if two_d else []
    width = grid_x + cols * (cell_w + pad)
    height = max(grid_y + rows * row_h, style_thumb.bottom + pad)
    title = Box(title.x, title.y, width - 2 * pad, title.h)
    return SheetLayout(
        width,
        height,
        fs,
        small,
        title,
        content_label,
        content_thumb,
        style_label,
        style_thumb,
        col_headers,
        row_headers,
        cells,
        captions,
        header_lines,
        caption_lines,
    )


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` px (the bitmap default when FreeType is unavailable)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def wrap(text: str, fnt: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Split ``text`` into at most ``max_lines`` lines no wider than ``width`` px.

    Breaks at newlines, after spaces and commas, never at a no-break space (U+00A0, drawn as a
    space); an over-long last line ends with an ellipsis.
    """
    if "\n" in text:
        lines = [line for part in text.split("\n") for line in wrap(part, fnt, width, max_lines)]
        if len(lines) <= max_lines:
            return lines
        return lines[: max_lines - 1] + wrap(" ".join(lines[max_lines - 1 :]), fnt, width, 1)
    tokens: list[str] = []
    word = ""
    for ch in text:
        word += ch
        if ch in " ,":
            tokens.append(word)
            word = ""
    if word:
        tokens.append(word)
    lines: list[str] = []
    current = ""
    for tok in tokens:
        if not current or fnt.getlength((current + tok).rstrip()) <= width:
            current += tok
        else:
            lines.append(current.rstrip())
            current = tok
    if current:
        lines.append(current.rstrip())
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1 :])]
    out = []
    for line in lines:
        if fnt.getlength(line) > width:
            while line and fnt.getlength(line + "…") > width:
                line = line[:-1]
            line += "…"
        out.append(line.replace("\u00a0", " "))
    return out


@dataclass
class SheetCell:
    """One result on the sheet: its image and the text under it."""

    image: Image.Image
    caption: str


@dataclass
class SheetSpec:
    """Everything a contact sheet shows."""

    title: str
    content: Image.Image
    style: Image.Image
    col_headers: list[str]  #: e.g. ``"style_weight = 1000"``
    row_headers: list[str] = field(default_factory=list)  #: empty for 1-D
    cells: list[list[SheetCell]] = field(default_factory=list)  #: ``[row][col]``


def _paste_fit(sheet: Image.Image, image: Image.Image, box: Box) -> None:
    """Paste ``image`` scaled to fit ``box`` (aspect kept), centred."""
    img = image.convert("RGBA")
    scale = min(box.w / img.width, box.h / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if size != img.size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    x = box.x + (box.w - size[0]) // 2
    y = box.y + (box.h - size[1]) // 2
    sheet.paste(img, (x, y), img)


def _text(
    draw: ImageDraw.ImageDraw,
    box: Box,
    text: str,
    fnt: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    line_h: int,
    max_lines: int,
    fill: str = "#202020",
    centre: bool = True,
    valign: str = "top",
) -> None:
    lines = wrap(text, fnt, box.w, max_lines)
    y0 = box.y
    if valign == "bottom":
        y0 = box.bottom - len(lines) * line_h
    elif valign == "middle":
        y0 = box.y + (box.h - len(lines) * line_h) // 2
    for i, line in enumerate(lines):
        x = box.x + (box.w - fnt.getlength(line)) / 2 if centre else box.x
        draw.text((x, y0 + i * line_h), line, font=fnt, fill=fill)


def render_sheet(spec: SheetSpec, cell_size: int = 256) -> Image.Image:
    """Draw the contact sheet of ``spec``; result images are fitted into ``cell_size`` boxes."""
    rows = len(spec.cells)
    cols = len(spec.cells[0]) if rows else 0
    sizes = [c.image.size for row in spec.cells for c in row]
    aspect = max(h / w for w, h in sizes) if sizes else 0.75
    cell_w = cell_size
    cell_h = max(16, round(cell_size * min(aspect, 1.5)))
    _, small_size = font_sizes(cell_w)
    needed = max(
        (len(wrap(c.caption, font(small_size), cell_w, MAX_CAPTION_LINES)) for r in spec.cells for c in r), default=0
    )
    lay = layout_sheet(rows, cols, cell_w, cell_h, two_d=bool(spec.row_headers), caption_lines=max(2, needed))
    sheet = Image.new("RGB", (lay.width, lay.height), "white")
    draw = ImageDraw.Draw(sheet)
    big, small = font(lay.font_size), font(lay.small_font_size)
    line, small_line = round(lay.font_size * 1.3), round(lay.small_font_size * 1.3)
    _text(draw, lay.title, spec.title, big, line, 1, fill="#000000", centre=False)
    _text(draw, lay.content_label, "content", small, small_line, 1)
    _paste_fit(sheet, spec.content, lay.content_thumb)
    _text(draw, lay.style_label, "style", small, small_line, 1)
    _paste_fit(sheet, spec.style, lay.style_thumb)
    for box, text in zip(lay.col_headers, spec.col_headers, strict=True):
        _text(draw, box, text, big, line, lay.header_lines, fill="#000000", valign="bottom")
    for box, text in zip(lay.row_headers, spec.row_headers, strict=True):
        _text(draw, box, text, big, line, lay.header_lines, fill="#000000", valign="middle")
    for r, row in enumerate(spec.cells):
        for c, cell in enumerate(row):
            _paste_fit(sheet, cell.image, lay.cells[r][c])
            _text(draw, lay.captions[r][c], cell.caption, small, small_line, lay.caption_lines, fill="#404040")
    return sheet


def header_text(field_name: str, label: str) -> str:
    """The header of one swept value, e.g. ``"style_weight = 1000"``."""
    return f"{field_name} = {label}"


def caption_text(
    losses: dict[str, float],
    seconds: float,
    order: Sequence[str] = ("content", "style", "tv"),
    distances: dict[str, float] | None = None,
) -> str:
    """The text under a cell: ``"content 1.2e+03 · style 4.5 · tv 0.31 · 12 s"`` (wraps between terms).

    With ``distances`` (``{"content_distance": …, "style_distance": …, "edge_structure": …}``, see
    :mod:`restyle.engine.quality`) a first line says them: ``"content dist 0.412 · style dist 0.087 · edges 0.61"``.
    """
    parts = [f"{k}\u00a0{losses[k]:.3g}" for k in order if k in losses]
    text = "\u00a0· ".join([*parts, f"{seconds:.0f}\u00a0s"])
    if not distances:
        return text
    measured = [
        f"{name}\u00a0dist\u00a0{distances[key]:.3f}"
        for name, key in (("content", "content_distance"), ("style", "style_distance"))
        if key in distances
    ]
    measured += [f"edges\u00a0{distances['edge_structure']:.2f}"] if "edge_structure" in distances else []
    return "\u00a0· ".join(measured) + "\n" + text
