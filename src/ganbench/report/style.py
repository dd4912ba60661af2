"""The report page's inline CSS: system fonts, light theme, print rules (no web fonts, no CDN)."""

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da;
  --best: #dafbe1; --warn: #9a6700; --warnbg: #fff8c5; --diff: #fff8c5; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 32px 56px; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 .35rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .8rem; padding-bottom: .3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 0 0 .2rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.lede { color: var(--muted); margin: 0 0 .5rem; }
nav { font-size: .85rem; color: var(--muted); }
p { max-width: 75em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { padding: .32rem .45rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { background: var(--soft); font-weight: 600; vertical-align: bottom; }
th.group { text-align: center; border-bottom: 1px solid var(--line); color: var(--muted);
  font-weight: 500; text-transform: uppercase; letter-spacing: .04em; font-size: .72rem; }
.num { text-align: right; }
.name { text-align: left; }
.rank { text-align: right; color: var(--muted); }
table.metrics tbody tr:hover { background: var(--soft); }
td.best { background: var(--best); }
tbody.floor th, tbody.floor td { color: var(--muted); font-style: italic; font-weight: 400;
  border-top: 2px solid var(--line); }
ol.notes { font-size: .8rem; color: var(--muted); margin: .6rem 0 0; padding-left: 1.4rem; }
.legend, .missing { font-size: .8rem; color: var(--muted); margin: .3rem 0; }
.missing { color: var(--warn); }
sup a { font-size: .7rem; margin-left: 1px; }
.badge { display: inline-block; font-size: .7rem; font-weight: 600; font-style: normal;
  padding: 0 .45rem; border-radius: 999px; border: 1px solid; vertical-align: .1em; }
.badge.ok { color: #1a7f37; border-color: #1a7f37; }
.badge.warn { color: var(--warn); background: var(--warnbg); border-color: var(--warn); }
figure { margin: 0 0 1rem; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: .8rem; color: var(--muted); margin-top: .25rem; }
img { display: block; max-width: 100%; height: auto; }
img.pixel { image-rendering: pixelated; }
figure.chart img, figure.curves img { width: auto; max-width: 100%; }
.std { display: block; font-size: .72rem; font-weight: 400; color: var(--muted); }
.kpis { display: flex; flex-wrap: wrap; gap: 6px; margin: 0 0 1rem; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: .1rem .5rem;
  font-size: .8rem; font-variant-numeric: tabular-nums; color: var(--muted); }
.kpi b { color: var(--fg); }
.kpi.best { background: var(--best); border-color: #aceebb; }
.cards { display: grid; gap: 18px; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px;
  break-inside: avoid; page-break-inside: avoid; }
.card .rank { margin-right: .2rem; }
.meta { color: var(--muted); font-size: .85rem; margin: 0 0 .8rem; }
.media { display: grid; grid-template-columns: minmax(160px, 260px) 1fr; gap: 24px;
  align-items: start; }
figure.grid img { width: 100%; }
figure.strip img { width: 100%; max-width: 720px; }
table.settings td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .8rem; }
table.settings th[scope=row] { text-align: left; font-weight: 500; }
table.settings tr.diff th, table.settings tr.diff td { background: var(--diff); }
.ne { color: var(--warn); font-weight: 700; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: .9rem; }
dt { color: var(--muted); }
dd { margin: 0; }
footer { margin-top: 2.5rem; font-size: .8rem; color: var(--muted); }
@media (max-width: 760px) {
  main { padding: 16px; }
  .media { grid-template-columns: 1fr; }
}
@media print {
  @page { margin: 12mm; }
  body { font-size: 9.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .scroll { overflow: visible; }
  table { font-size: 7.5pt; }
  th, td { padding: .15rem .3rem; }
  table.metrics tbody tr:hover { background: none; }
  td.best, .kpi.best, .badge.warn, tr.diff th, tr.diff td, thead th {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .card { border-color: #bbb; }
}
table.matrix td.better { background: #dafbe1; }
table.matrix td.worse { background: #ffebe9; }
table.matrix td.self { color: var(--muted); }
ul.words { margin: 0; padding-left: 1.2rem; }
.kpi small { display: block; color: var(--muted); font-size: .72rem; }
@media print { table.matrix td.better, table.matrix td.worse {
  -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""
