"""Terminal output for the commands: the one console of `ptst.core.console`, and tables that stay readable in a
pipe, a file or a narrow terminal."""

from ptst.core.console import err, note, out, write_raw

__all__ = ["err", "note", "out", "plain_table", "print_table", "write_raw"]


def print_table(table) -> None:
    """A rich table on a terminal wide enough for all of it; anywhere else (a pipe, a file, a narrow terminal)
    plain columns, one line per row, never wrapped, so a reader, `grep` and `cut` see whole cells."""
    from rich.measure import Measurement

    console = out()
    needed = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if console.is_terminal and needed <= console.width:
        console.print(table)
    else:
        write_raw(plain_table(table))


def plain_table(table) -> str:
    """The table's title, header, rows and caption as plain text columns (markup removed, cells whole)."""
    from rich.text import Text

    def plain(cell) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return " ".join(text.split())

    columns = [[plain(col.header), *(plain(c) for c in col.cells)] for col in table.columns]
    widths = [max(len(cell) for cell in col) for col in columns]
    lines = [plain(table.title)] if table.title else []
    for i in range(len(columns[0]) if columns else 0):
        cells = [col[i].rjust(w) if table.columns[k].justify == "right" else col[i].ljust(w)
                 for k, (col, w) in enumerate(zip(columns, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if table.caption:
        lines.append(plain(table.caption))
    return "\n".join(lines) + "\n"
