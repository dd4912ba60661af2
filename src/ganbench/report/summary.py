"""``reports/summary.md``: the ranked table as GitHub Markdown, small enough for a PR comment."""

from __future__ import annotations

from ganbench.report.collect import ReportInputs
from ganbench.report.table import Row, Table, build_table, provenance, superscript


def md_escape(text: str) -> str:
    """Make a user string inert in a Markdown table cell (no HTML, no cell breaks, no emphasis)."""
    for old, new in (("\\", "\\\\"), ("|", "\\|"), ("*", "\\*"), ("`", "\\`"),
                     ("<", "&lt;"), (">", "&gt;"), ("\n", " ")):
        text = text.replace(old, new)
    return text


def _name(row: Row) -> str:
    if row.floor:
        return "*real (floor)*"
    name = md_escape(row.name)
    if row.status == "diverged":
        step = f" at step {row.diverged_step}" if row.diverged_step is not None else ""
        return f"{name} ⚠ diverged{step}"
    if row.status != "ok":
        return f"{name} ({md_escape(row.status)})"
    return name


def _line(row: Row) -> str:
    cells = []
    for cell in row.cells:
        text = cell.text + (f" ± {cell.std}" if cell.std else "")
        text += superscript(cell.note) if cell.note else ""
        cells.append(f"**{text}**" if cell.best and not row.floor else text)
    rank = "" if row.floor else (str(row.rank) if row.rank else "—")
    return "| " + " | ".join([rank, _name(row), *cells]) + " |"


def render_table(table: Table) -> list[str]:
    multi = len({c.group for c in table.columns if c.group != "TSTR"}) > 1
    heads = [(f"{c.group} " if multi and c.group != "TSTR" else "") + c.header
             for c in table.columns]
    lines = ["| # | variant | " + " | ".join(heads) + " |",
             "| ---: | --- | " + " | ".join("---:" for _ in heads) + " |"]
    lines += [_line(r) for r in table.rows]
    if table.floor:
        lines.append(_line(table.floor))
    return lines


def render_summary(inputs: ReportInputs, table: Table | None = None) -> str:
    table = table or build_table(inputs)
    primary = table.primary
    backbones = ", ".join(dict.fromkeys(c.group for c in table.columns if c.group != "TSTR"))
    lines = [f"## {md_escape(inputs.title)}", "",
             f"Variants ranked by **{md_escape(primary.key)}** "
             f"({'higher' if primary.direction > 0 else 'lower'} is better). "
             f"↓ lower is better, ↑ higher is better; best value per column in bold; "
             f"KID and IS as mean ± std. Backbone{'s' if ',' in backbones else ''}: "
             f"{backbones or 'none'}.", ""]
    lines += render_table(table)
    notes = [f"{superscript(i)} {md_escape(n)}" for i, n in enumerate(table.notes, 1)]
    notes += [md_escape(n) for n in table.legend]
    if notes:
        lines += ["", "  \n".join(notes)]
    facts = " · ".join(f"{label}: {md_escape(text)}" for label, text in provenance(inputs))
    lines += ["", f"<sub>{facts}</sub>", ""]
    return "\n".join(lines)
