"""The text report drawn without rich, byte for byte as rich draws it without colour.

A scheduler or a pipe reads `runbook run` without colour at a known width; importing
rich and laying out its table cost about as much as the rest of the run (issue 11,
point 1). What is printed is described once (text.py builds it: `Block`s of styled
pieces and a `Table`); rich draws it on a terminal, and `draw` here draws it otherwise.

`draw` follows rich's own rules (rich/table.py, rich/text.py, rich/_wrap.py) for what
the report uses: lines printed as they are (the console soft-wraps), and a table with
box SIMPLE_HEAD, no edge, no padding at the edges, not expanded, whose one wrapping
column folds its words at the width left to it. It answers None, and rich draws, for
anything else: a tab (rich expands it), a table cell that is not plain ASCII (its width
in cells needs rich's tables), a table that cannot fit by narrowing its wrapping column.
tests/test_plain_report.py renders many reports both ways and compares the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

__all__ = ["Block", "Column", "Piece", "Table", "draw", "tidy"]

Overflow = Literal["fold", "crop", "ellipsis"]
Justify = Literal["left", "right"]
#: A piece of text and its rich style ("" for none).
Piece = tuple[str, str]
#: What one `console.print` prints: its pieces in a row ("\n" in them starts a new
#: line; an empty block prints an empty line).
Block = list[Piece]

_WORD = re.compile(r"\s*\S+\s*")  # rich/_wrap.py: a word with the spaces around it
_TRAILING_SPACE = re.compile(r"\s+$")
_HEAD_RULE = "\u2500"  # box SIMPLE_HEAD's line under the header


class Column:
    """One column of a table, as `rich.table.Table.add_column` takes it."""

    __slots__ = ("header", "justify", "max_width", "no_wrap", "overflow")

    def __init__(
        self,
        header: str,
        *,
        no_wrap: bool = False,
        overflow: Overflow = "ellipsis",
        max_width: int | None = None,
        justify: Justify = "left",
    ) -> None:
        self.header = header
        self.no_wrap = no_wrap
        self.overflow = overflow
        self.max_width = max_width
        self.justify = justify


class Table:
    """A table of `Block` cells (box SIMPLE_HEAD, no edge, no padding at the edges)."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self.rows: list[list[Block]] = []

    def add_row(self, *cells: Block) -> None:
        self.rows.append(list(cells))


def text_of(block: Block) -> str:
    return "".join(text for text, _ in block)


def tidy(drawn: str) -> str:
    """The drawn text without trailing blanks, which rich leaves after padded cells."""
    return "\n".join(line.rstrip() for line in drawn.splitlines())


def draw(printed: Sequence[Block | Table], width: int) -> str | None:
    """What rich prints for `printed` without colour at `width` (then `tidy`), or None
    when that needs rich."""
    out: list[str] = []
    for item in printed:
        if isinstance(item, Table):
            lines = _table_lines(item, width)
            if lines is None:
                return None
            out.extend(lines)
        else:
            text = text_of(item)
            if "\t" in text:
                return None
            out.append(text)
    out.append("")
    return tidy("\n".join(out))


def _plain_ascii(text: str) -> bool:
    return text.isascii() and text.replace("\n", "").isprintable()


def _table_lines(table: Table, width: int) -> list[str] | None:
    columns = table.columns
    header = [column.header.split("\n") for column in columns]
    rows = []
    for row in table.rows:
        texts = [text_of(cell) for cell in row]
        if not all(_plain_ascii(text) for text in texts):
            return None
        rows.append([text.split("\n") for text in texts])
    last = len(columns) - 1
    # Padding one space either side of each cell, but not at the table's edges.
    pads = [(0 if index == 0 else 1, 0 if index == last else 1) for index in range(len(columns))]
    room = width - last  # a one-space divider between columns
    widths = _widths(columns, pads, [header, *rows], room)
    if widths is None:
        return None
    lines = _row_lines(columns, pads, widths, header, bottom=True)
    lines.append(_HEAD_RULE * (sum(widths) + last))
    for cells in rows:
        lines.extend(_row_lines(columns, pads, widths, cells))
    return lines


def _widths(
    columns: Sequence[Column],
    pads: list[tuple[int, int]],
    rows: list[list[list[str]]],
    room: int,
) -> list[int] | None:
    """Each column's width with its padding: its longest line (rich's Measurement), at most
    its max_width; when the table is wider than `room`, its one wrapping column gives up
    the excess (Table._collapse_widths)."""
    widths = []
    for index, column in enumerate(columns):
        pad = sum(pads[index])
        longest = max(len(line) for cells in rows for line in cells[index])
        found = min(longest + pad, room)
        if column.max_width is not None:
            found = min(found, column.max_width + pad)
        widths.append(found)
    excess = sum(widths) - room
    if excess > 0:
        wrapping = [index for index, column in enumerate(columns) if not column.no_wrap]
        if len(wrapping) != 1:
            return None
        index = wrapping[0]
        widths[index] -= excess
        if widths[index] < sum(pads[index]) + 1:
            return None  # rich then shrinks every column: leave it to rich
    return widths


def _row_lines(
    columns: Sequence[Column],
    pads: list[tuple[int, int]],
    widths: list[int],
    cells: list[list[str]],
    *,
    bottom: bool = False,
) -> list[str]:
    drawn = []
    for column, (left, right), width, lines in zip(columns, pads, widths, cells, strict=True):
        inner = width - left - right
        drawn.append([" " * left + line + " " * right for line in _cell(lines, inner, column)])
    height = max(len(lines) for lines in drawn)
    for index, lines in enumerate(drawn):
        blank = [" " * widths[index]] * (height - len(lines))
        drawn[index] = blank + lines if bottom else lines + blank  # a header sits at the bottom
    return [" ".join(parts) for parts in zip(*drawn, strict=True)]


def _cell(lines: list[str], width: int, column: Column) -> list[str]:
    """A cell's lines, each exactly `width` long, as rich's Text.wrap makes them."""
    out = []
    for line in lines:
        pieces = [line] if column.no_wrap else _wrap(line, width, column.overflow == "fold")
        for piece in pieces:
            if column.justify == "right":
                piece = _truncate(piece.rstrip(), width, column.overflow)
                out.append(piece.rjust(width))
            else:
                out.append(_truncate(piece, width, column.overflow).ljust(width))
    return out


def _truncate(text: str, width: int, overflow: str) -> str:
    if len(text) <= width:
        return text
    return text[: width - 1] + "\u2026" if overflow == "ellipsis" else text[:width]


def _wrap(line: str, width: int, fold: bool) -> list[str]:
    """`line` cut where rich's divide_line cuts it, each piece without the trailing
    spaces that would pass `width` (Text.rstrip_end)."""
    if len(line) <= width:
        return [line]
    offsets = [0, *_breaks(line, width, fold), len(line)]
    pieces = []
    for start, end in zip(offsets, offsets[1:], strict=False):
        piece = line[start:end]
        excess = len(piece) - width
        spaces = _TRAILING_SPACE.search(piece) if excess > 0 else None
        if spaces is not None:
            piece = piece[: len(piece) - min(len(spaces.group()), excess)]
        pieces.append(piece)
    return pieces


def _breaks(text: str, width: int, fold: bool) -> list[int]:
    """rich/_wrap.py divide_line for text of one cell per character."""
    breaks: list[int] = []
    offset = 0
    match = _WORD.match(text, 0)
    while match is not None:
        start, end = match.span()
        word = match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                chunks = [word[index : index + width] for index in range(0, len(word), width)]
                for number, chunk in enumerate(chunks, 1):
                    if start:
                        breaks.append(start)
                    if number == len(chunks):
                        offset = len(chunk)
                    else:
                        start += len(chunk)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
        match = _WORD.match(text, end)
    return breaks
