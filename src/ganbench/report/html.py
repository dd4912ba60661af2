"""``reports/index.html``: one self-contained page (inline CSS, images as data: URIs, no script,
no external request), readable on a laptop and printable to PDF.

Every user-supplied string (title, variant names, params values, reasons) goes through
``html.escape``; figures are embedded as ``<img>`` data URIs, where no script can run.
"""

from __future__ import annotations

import base64
import html

from ganbench import __version__
from ganbench.report.collect import ReportInputs, VariantInputs
from ganbench.report.figures import Figures, Rendered
from ganbench.report.style import CSS
from ganbench.report.summary import VERDICT_MARKS
from ganbench.report.table import (Row, Table, build_table, pairwise_matrix, provenance,
                                   sentences, settings_matrix, show_value)
from ganbench.config import TASKS
from ganbench.results import GENERATE, fmt


def e(text) -> str:
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure(rendered: Rendered, caption: str, css: str = "") -> str:
    return (f'<figure class="{css}"><img src="{data_uri(rendered.svg, "image/svg+xml")}" '
            f'alt="{e(rendered.title)}"><figcaption>{caption}</figcaption></figure>')


def image(png: bytes | None, alt: str, caption: str, css: str) -> str:
    if png is None:
        return ""
    return (f'<figure class="{css}"><img class="pixel" src="{data_uri(png, "image/png")}" '
            f'alt="{e(alt)}"><figcaption>{caption}</figcaption></figure>')


# --------------------------------------------------------------------------- ranking table


def status_badge(failures: str | None) -> str:
    if not failures:
        return '<span class="badge ok">ok</span>'
    return f'<span class="badge warn">⚠ {e(failures)}</span>'


def _row(row: Row, anchor: str, table: Table) -> str:
    cells = []
    for col, cell in zip(table.columns, row.cells):
        text = e(cell.text)
        if cell.interval:
            text += f'<span class="std">{e(cell.interval)}</span>'
        if cell.values:
            seeds = ", ".join(fmt(v, col.key) for v in cell.values)
            text = f'<span title="per seed: {e(seeds)}">{text}</span>'
        if cell.note:
            text += f'<sup><a href="#note-{cell.note}">{cell.note}</a></sup>'
        best = cell.best and not row.floor
        cells.append(f'<td class="num{" best" if best else ""}">'
                     f'{f"<strong>{text}</strong>" if best else text}</td>')
    if row.floor:
        head = '<td class="rank"></td><th class="name" scope="row">real (floor)</th>'
    else:
        badge = "" if not row.failures else " " + status_badge(row.failures)
        head = (f'<td class="rank">{row.rank or "—"}</td><th class="name" scope="row">'
                f'<a href="#{anchor}">{e(row.name)}</a>{badge}</th>')
    return f"<tr>{head}{''.join(cells)}</tr>"


def ranking_table(table: Table, anchors: dict[str, str]) -> str:
    groups: list[list] = []
    for col in table.columns:
        if groups and groups[-1][0] == col.group:
            groups[-1][1] += 1
        else:
            groups.append([col.group, 1])
    top = "".join(f'<th colspan="{n}" class="group">{e(g)}</th>' for g, n in groups)
    heads = "".join(f'<th class="num" title="{e(c.key)}">{e(c.header)}</th>'
                    for c in table.columns)
    body = "".join(_row(r, anchors[r.name], table) for r in table.rows)
    floor = (f'<tbody class="floor">{_row(table.floor, "", table)}</tbody>'
             if table.floor else "")
    notes = "".join(f'<li id="note-{i}" value="{i}">{e(n)}</li>'
                    for i, n in enumerate(table.notes, 1))
    legend = "".join(f"<p class=\"legend\">{e(n)}</p>" for n in table.legend)
    return (f'<div class="scroll"><table class="metrics"><thead>'
            f'<tr><th rowspan="2" class="rank">#</th><th rowspan="2" class="name">variant</th>'
            f"{top}</tr><tr>{heads}</tr></thead><tbody>{body}</tbody>{floor}</table></div>"
            f'{f"<ol class=notes>{notes}</ol>" if notes else ""}{legend}')


def _pairs_note(pairs: int) -> str:
    if pairs == 1:
        return "One pair: no correction for multiple comparisons is needed."
    return (f"The {pairs} pairs are not corrected for multiple comparisons: at 95%, about one "
            "pair in twenty of equal variants looks different by chance.")


def matrix_table(inputs: ReportInputs, key: str) -> str:
    """The pairwise matrix: row against column, the verdict and P(row better)."""
    names, grid = pairwise_matrix(inputs, key)
    if len(names) < 2:
        return "<p>Fewer than two variants have this metric: nothing to compare.</p>"
    head = "".join(f'<th scope="col">{e(n)}</th>' for n in names)
    rows = []
    for name, row in zip(names, grid):
        cells = []
        for cell in row:
            if cell.verdict is None:
                cells.append('<td class="num self">·</td>')
                continue
            title = (f"difference {fmt(cell.difference, key)}, 95% interval {cell.interval}"
                     if cell.interval else f"difference {fmt(cell.difference, key)}")
            cells.append(f'<td class="num {e(cell.verdict)}" title="{e(title)}">'
                         f"{VERDICT_MARKS[cell.verdict]} {cell.p_improvement:.2f}</td>")
        rows.append(f'<tr><th scope="row">{e(name)}</th>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="matrix"><thead><tr><th>row vs column</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f'<p class="legend">▲ the row variant is better, ▼ worse, ≈ indistinguishable: the '
            f"95% Welch interval of the difference of means holds 0. The number is the "
            f"probability of improvement P(row better than column) over all pairs of seeds "
            f"(Agarwal et al. 2021). Hover a cell for the difference and its interval. "
            f"{_pairs_note(len(names) * (len(names) - 1) // 2)}</p>")


# --------------------------------------------------------------------------- sections


def how_to_read(inputs: ReportInputs, table: Table) -> str:
    first = inputs.variants[0].aggregate.provenance if inputs.variants else {}
    n_gen = (first.get("samples") or {}).get("n", "the")
    n_real = (first.get("reference") or {}).get("n", "the")
    classes = (inputs.judge or {}).get("num_classes", 10)
    better = "higher" if table.primary.direction > 0 else "lower"
    floor = (" The <em>real (floor)</em> row scores held-out real images like a variant: "
             "differences smaller than the gap between it and 0 are within sampling noise."
             if table.floor else "")
    return f"""<p>Each variant was trained once per <strong>training seed</strong>; each run
generated {e(n_gen)} images from fixed latent seeds, compared with {e(n_real)} real images of the
<strong>held-out test split</strong> (the reference). Every number is the <strong>mean over
seeds with its 95% interval</strong> (± half-width, or [low, high]); the per-seed values are in
the charts and in each cell's tooltip. The table is ranked by
<strong>{e(table.primary.key)}</strong> ({better} is better), and a variant's rank is 1 + the
number of variants that beat it by more than the seed noise, so variants that cannot be told
apart share a rank. Seed-to-seed spread is training noise (plus evaluation noise); the
evaluation noise alone, the spread over fresh latent draws of one trained model, is shown on
each variant's card.
<strong>FID</strong> ↓ is the Fréchet distance between Gaussians fitted to backbone features of
generated and real images (0 = identical statistics). <strong>KID</strong> ↓ is the unbiased kernel
MMD² with a cubic polynomial kernel, mean ± std over random subsets (small negative values are
noise around 0). <strong>IS</strong> ↑ (Inception Score) rewards confident and diverse class
predictions (at most {e(classes)} on the judge). <strong>Precision</strong> ↑ is the share of generated
images that fall inside the real data manifold (fidelity), <strong>recall</strong> ↑ the share of real
images covered by generated ones (diversity); <strong>density</strong> ↑ and <strong>coverage</strong> ↑
are their outlier-robust versions (k = 5 nearest neighbours). <strong>TSTR</strong> ↑ trains a fresh
classifier on labelled synthetic images and tests it on real ones; <strong>TRTR</strong> is the same
classifier trained on real images, and TSTR/TRTR ↑ near 1 means the samples teach as much as real data
(conditional variants only). Backbones: <strong>judge</strong> is a small CNN domain classifier trained
on the real <em>train</em> split (its penultimate features and softmax); <strong>inception</strong>, when
present, is the TF FID InceptionV3 (pool3, images resized to 299 bilinearly, the pytorch-fid
convention), whose absolute values are not comparable with published ImageNet-scale numbers on
small grayscale digits.{floor}</p>"""


def key_values(row: Row, table: Table, v: VariantInputs) -> str:
    """The variant's numbers: mean and interval over seeds, and the evaluation noise."""
    multi = len({c.group for c in table.columns if c.is_backbone}) > 1
    chips = []
    for col, cell in zip(table.columns, row.cells):
        if cell.value is None or col.key == "trtr_accuracy":
            continue
        label = (f"{col.group} " if multi and col.is_backbone else "") + col.header
        interval = f" {e(cell.interval)}" if cell.interval else ""
        summary = v.aggregate.metrics.get(col.key)
        noise = (f"<small>evaluation noise ± {e(fmt(summary.eval_std, col.key))}</small>"
                 if summary is not None and summary.eval_std is not None else "")
        chips.append(f'<span class="kpi{" best" if cell.best else ""}"><span>{e(label)}</span> '
                     f"<b>{e(cell.text)}</b>{interval}{noise}</span>")
    return f'<div class="kpis">{"".join(chips)}</div>'


def variant_card(v: VariantInputs, row: Row, table: Table, anchor: str, figures: Figures) -> str:
    s = v.settings
    facts = [s.get("arch"), s.get("loss"), "conditional" if s.get("conditional") else None,
             f"seeds {', '.join(map(str, v.aggregate.seeds))}"]
    model = v.model or {}
    if model.get("epochs") is not None:
        facts.append(f"{model['epochs']} epochs")
    if model.get("steps") is not None:
        facts.append(f"{model['steps']} steps")
    if model.get("device"):
        facts.append(f"on {model['device']}")
    meta = " · ".join(e(show_value(f)) for f in facts if f is not None)
    latent = (v.aggregate.provenance.get("samples") or {}).get("seed", "?")
    grid = image(v.grid_png, f"sample grid of {v.name}",
                 f"Samples of training seed {e(v.seed)} (the representative seed: the median "
                 f"of {e(table.primary.key)}), latent seed {e(latent)}", "grid")
    if v.task != GENERATE:
        third = "target" if TASKS[v.task].paired else "A→B→A (the cycle back)"
        grid = image(v.triplets_png, f"translations of {v.name}",
                     f"Input | translation | {third}, the first test image of each class; "
                     f"training seed {e(v.seed)} (the representative seed: the median of "
                     f"{e(table.primary.key)})", "grid")
    strip = image(v.interpolation_png, f"latent interpolation of {v.name}",
                  "Latent interpolation between two fixed codes", "strip")
    sweep = (image(v.class_sweep_png, f"class sweep of {v.name}",
                   "Class sweep: each row one fixed code, each column one class", "strip")
             if v.class_sweep_png else "")
    sweep += (image(v.style_mixing_png, f"style mixing of {v.name}",
                    "Style mixing: coarse styles from each row's source (left), fine styles "
                    "from each column's source (top)", "strip")
              if v.style_mixing_png else "")
    curves = figures.curves.get(v.name)
    curves_html = figure(curves, f"Training curves of seed {e(v.seed)} against the step "
                         "(faint: raw, solid: moving average)", "curves") if curves else ""
    missing = (f'<p class="missing">Not found: {e(", ".join(v.missing))}</p>'
               if v.missing else "")
    rank_text = f"#{row.rank}" if row.rank else "unranked"
    return (f'<article class="card" id="{anchor}"><h3><span class="rank">{rank_text}</span> '
            f"{e(v.name)} {status_badge(row.failures)}</h3>"
            f'<p class="meta">{meta}</p><div class="media">{grid}<div>'
            f"{key_values(row, table, v)}{strip}{sweep}</div></div>{curves_html}{missing}</article>")


def settings_table(inputs: ReportInputs) -> str:
    variants = inputs.all_variants
    head = "".join(f'<th scope="col">{e(v.name)}</th>' for v in variants)
    rows = []
    for key, values, differs in settings_matrix(variants):
        mark = '<span class="ne" title="differs between variants">≠</span> ' if differs else ""
        cells = "".join(f"<td>{e(x)}</td>" for x in values)
        rows.append(f'<tr{" class=diff" if differs else ""}><th scope="row">{mark}{e(key)}</th>'
                    f"{cells}</tr>")
    return (f'<div class="scroll"><table class="settings"><thead><tr><th>key</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="legend">Highlighted rows (≠) differ between variants.</p>')


def translation_section(section: ReportInputs, figures: Figures, anchors: dict[str, str],
                        index: int) -> str:
    """One translation task: its ranking, the words, the pairwise matrix, its strips and
    its variants' cards (the same parts as the generators', ranked apart)."""
    table = build_table(section)
    by_name = {v.name: v for v in section.variants}
    cards = "".join(variant_card(by_name[r.name], r, table, anchors[r.name], figures)
                    for r in table.rows)
    words = "".join(f"<li>{e(line)}</li>" for line in sentences(section))
    chart = figures.translation.get(section.task)
    chart_html = figure(chart, e(chart.title), "chart") if chart else ""
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in provenance(section)
                    if k in ("translations", "training seeds"))
    return f"""<section id="translation-{index}"><h2>{e(section.title)}</h2>
<dl>{facts}</dl>
<h3>Ranking</h3>{ranking_table(table, anchors)}
<h3>In words</h3><ul class="words">{words}</ul>
<h3>Pairwise on {e(table.primary.key)}</h3>{matrix_table(section, section.primary_metric)}
<h3>Charts</h3>{chart_html}
<h3>Translators</h3><div class="cards">{cards}</div></section>"""


def render_html(inputs: ReportInputs, figures: Figures, table: Table | None = None) -> str:
    anchors = {v.name: f"variant-{i}" for i, v in enumerate(inputs.all_variants, 1)}
    translations = "".join(translation_section(section, figures, anchors, i)
                           for i, section in enumerate(inputs.translations, 1))
    nav_translation = [f'<a href="#translation-{i}">{e(section.title)}</a>'
                       for i, section in enumerate(inputs.translations, 1)]
    facts = provenance(inputs) if inputs.variants else \
        [f for f in provenance(inputs.translations[0]) if f[0] != "translations"]
    prov = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    generators, nav, lede = "", [], ""
    if inputs.variants:
        table = table or build_table(inputs)
        by_name = {v.name: v for v in inputs.variants}
        order = [by_name[r.name] for r in table.rows]
        cards = "".join(variant_card(by_name[r.name], r, table, anchors[r.name], figures)
                        for r in table.rows)
        charts = "".join(figure(f, e(f.title), "chart") for f in figures.overview)
        links = " · ".join(f'<a href="#{anchors[v.name]}">{e(v.name)}</a>' for v in order)
        words = "".join(f"<li>{e(line)}</li>" for line in sentences(inputs))
        counts = sorted(set(inputs.seed_counts.values()))
        seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        lede = (f"{len(inputs.variants)} variants, {seeds} training seeds each, ranked by "
                f"<strong>{e(table.primary.key)}</strong> with 95% intervals. ")
        nav = [f'<a href="#ranking">Ranking</a> · <a href="#words">In words</a> · '
               f'<a href="#pairwise">Pairwise</a> · <a href="#how">How to read this</a> · '
               f'<a href="#charts">Charts</a> · Variants: {links}']
        generators = f"""<section id="ranking"><h2>Ranking</h2>{ranking_table(table, anchors)}</section>
<section id="words"><h2>In words</h2><ul class="words">{words}</ul></section>
<section id="pairwise"><h2>Pairwise on {e(table.primary.key)}</h2>
{matrix_table(inputs, inputs.primary_metric)}</section>
<section id="how"><h2>How to read this</h2>{how_to_read(inputs, table)}</section>
<section id="charts"><h2>Charts</h2>{charts}</section>
<section id="variants"><h2>Variants</h2><div class="cards">{cards}</div></section>"""
    if inputs.translations:
        lede += (f"{sum(len(t.variants) for t in inputs.translations)} translators in "
                 f"{len(inputs.translations)} translation task"
                 f"{'s' if len(inputs.translations) > 1 else ''}, ranked apart. ")
    lede += e(dict(facts).get("dataset", "")) + "."
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ganbench {e(__version__)}">
<title>{e(inputs.title)}</title>
<style>{CSS}</style></head>
<body><main>
<header><h1>{e(inputs.title)}</h1><p class="lede">{lede}</p>
<nav>{" · ".join(nav + nav_translation + ['<a href="#settings">Settings</a>',
                                          '<a href="#provenance">Provenance</a>'])}</nav></header>
{generators}
{translations}
<section id="settings"><h2>Settings side by side</h2>{settings_table(inputs)}</section>
<section id="provenance"><h2>Provenance</h2><dl>{prov}</dl></section>
<footer>Generated by ganbench {e(__version__)}. This page is self-contained: it needs no network.
</footer></main></body></html>
"""
