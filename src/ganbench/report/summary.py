"""``reports/summary.md``: the ranked table over seeds as GitHub Markdown, the ranking in words
and the pairwise matrix of the primary metric, small enough for a PR comment."""

from __future__ import annotations

from ganbench import stats
from ganbench.markdown import md_escape
from ganbench.results import GENERATE
from ganbench.report.collect import ReportInputs
from ganbench.report.table import (Row, Table, build_table, pairwise_matrix, provenance,
                                   sentences, superscript)

VERDICT_MARKS = {stats.BETTER: "▲", stats.WORSE: "▼", stats.SAME: "≈"}


def _name(row: Row) -> str:
    if row.floor:
        return "*real (floor)*"
    name = md_escape(row.name)
    if row.failures:
        return f"{name} ⚠ {md_escape(row.failures)}"
    return name


def _line(row: Row) -> str:
    cells = []
    for cell in row.cells:
        text = cell.text + (f" {cell.interval}" if cell.interval else "")
        text += superscript(cell.note) if cell.note else ""
        cells.append(f"**{text}**" if cell.best and not row.floor else text)
    rank = "" if row.floor else (str(row.rank) if row.rank else "—")
    return "| " + " | ".join([rank, _name(row), *cells]) + " |"


def render_table(table: Table) -> list[str]:
    multi = len({c.group for c in table.columns if c.is_backbone}) > 1
    heads = [(f"{c.group} " if multi and c.is_backbone else "") + c.header
             for c in table.columns]
    lines = ["| # | variant | " + " | ".join(heads) + " |",
             "| ---: | --- | " + " | ".join("---:" for _ in heads) + " |"]
    lines += [_line(r) for r in table.rows]
    if table.floor:
        lines.append(_line(table.floor))
    return lines


def render_matrix(inputs: ReportInputs, key: str) -> list[str]:
    """Row against column: ▲ better, ▼ worse, ≈ indistinguishable, with P(row better)."""
    names, grid = pairwise_matrix(inputs, key)
    if len(names) < 2:
        return []
    lines = ["| row vs column | " + " | ".join(md_escape(n) for n in names) + " |",
             "| --- | " + " | ".join(":---:" for _ in names) + " |"]
    for name, row in zip(names, grid):
        cells = ["·" if cell.verdict is None else
                 f"{VERDICT_MARKS[cell.verdict]} {cell.p_improvement:.2f}" for cell in row]
        lines.append(f"| {md_escape(name)} | " + " | ".join(cells) + " |")
    return lines


def render_section(inputs: ReportInputs, table: Table | None = None) -> list[str]:
    """One group of variants ranked together: the generators, or one translation task."""
    table = table or build_table(inputs)
    primary = table.primary
    backbones = ", ".join(dict.fromkeys(c.group for c in table.columns if c.is_backbone))
    counts = sorted(set(inputs.seed_counts.values()))
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    what = "Variants" if inputs.task == GENERATE else \
        f"Translators of task {md_escape(inputs.task)}"
    lines = [f"{what} ranked by **{md_escape(primary.key)}** "
             f"({'higher' if primary.direction > 0 else 'lower'} is better) over {seeds} "
             f"training seeds: mean and 95% interval (± half-width, or [low, high]); variants "
             "that no comparison can tell apart share a rank. ↓ lower is better, ↑ higher is "
             f"better. Backbone{'s' if ',' in backbones else ''}: {backbones or 'none'}.", ""]
    lines += render_table(table)
    notes = [f"{superscript(i)} {md_escape(n)}" for i, n in enumerate(table.notes, 1)]
    notes += [md_escape(n) for n in table.legend]
    if notes:
        lines += ["", "  \n".join(notes)]
    lines += ["", "**In words.** " + " ".join(md_escape(s) for s in sentences(inputs)), ""]
    matrix = render_matrix(inputs, inputs.primary_metric)
    if matrix:
        lines += [f"**Pairwise on {md_escape(primary.key)}** (row against column: ▲ better, "
                  "▼ worse, ≈ indistinguishable at 95%; the number is P(row better) over seed "
                  "pairs):", ""] + matrix + [""]
    facts = " · ".join(f"{label}: {md_escape(text)}" for label, text in provenance(inputs))
    lines += [f"<sub>{facts}</sub>", ""]
    return lines


def render_summary(inputs: ReportInputs, table: Table | None = None) -> str:
    """The generators' section (when there are generators), then one section per
    translation task."""
    lines = [f"## {md_escape(inputs.title)}", ""]
    if inputs.variants:
        lines += render_section(inputs, table)
    for section in inputs.translations:
        lines += [f"### {md_escape(section.title)}", ""] + render_section(section)
    return "\n".join(lines)
