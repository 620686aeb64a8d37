"""The report's stylesheet, inlined into the page: screen (phone to desktop) and print (A4, for
WeasyPrint). System fonts only; no external resources. Colours reach 4.5:1 contrast on their
backgrounds; verdicts carry a word and a symbol as well as a colour."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Helvetica Neue", Arial,
       sans-serif; color: #1a1a1a; background: #ffffff; line-height: 1.45; font-size: 100%; }
body { margin: 0 auto; max-width: 76rem; padding: 0 1rem 2rem; }
h1 { font-size: 1.7rem; margin: 1.2rem 0 0.4rem; line-height: 1.2; }
h2 { font-size: 1.35rem; margin: 2.4rem 0 0.6rem; padding-top: 0.6rem; border-top: 2px solid #1a1a1a; }
h3 { font-size: 1.12rem; margin: 1.8rem 0 0.5rem; }
h4 { font-size: 1rem; margin: 0 0 0.35rem; }
p, li { max-width: 52rem; }
a { color: #0b4f94; }
a:focus, .table-scroll:focus { outline: 3px solid #0b4f94; outline-offset: 2px; }
.skip-link { position: absolute; left: -999px; top: 0; background: #ffffff; padding: 0.4rem 0.8rem; }
.skip-link:focus { left: 0.5rem; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
           clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
.lede { font-size: 1.05rem; }
.muted, .note, .table-note, figcaption { color: #4d4d4d; }
.note, .table-note { font-size: 0.88rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.8rem 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.banner { border: 2px solid #8a4b08; background: #fdf1d6; color: #3d2600; padding: 0.6rem 0.9rem;
          margin: 0.8rem 0; max-width: 52rem; }
nav.toc ol { columns: 2; max-width: 40rem; }
.table-scroll { overflow-x: auto; margin: 0.5rem 0 0.3rem; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border-bottom: 1px solid #d5dae0; padding: 0.35rem 0.55rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #1a1a1a; background: #f5f6f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.scorecard { min-width: 46rem; }
table.scorecard th[scope="row"] { font-weight: 600; }
table.scorecard .unit, table.claim .unit, table.detail .unit { display: block; font-weight: 400; font-size: 0.82rem;
  color: #4d4d4d; }
.est { font-weight: 700; white-space: nowrap; font-variant-numeric: tabular-nums; }
.ci { display: block; white-space: nowrap; font-size: 0.85rem; color: #333333; font-variant-numeric: tabular-nums; }
tr.row-na td, tr.row-na th { color: #4d4d4d; background: #f3f3f3; }
tr.row-withheld td, tr.row-withheld th { background: #f7f2fb; }
.withheld-text { font-style: italic; color: #5b2a86; }
.badge { display: inline-block; padding: 0.08rem 0.5rem; border-radius: 0.7rem; font-size: 0.82rem;
         font-weight: 700; white-space: nowrap; border: 1px solid transparent; }
.badge-supported { background: #1b5e20; color: #ffffff; }
.badge-contradicted { background: #a4161a; color: #ffffff; }
.badge-inconclusive { background: #fdf1d6; color: #4a3300; border-color: #8a6d1d; }
.badge-no_important_difference { background: #e3eef9; color: #0b3a66; border-color: #2f6aa3; }
.badge-withheld { background: #ffffff; color: #5b2a86; border: 1px dashed #5b2a86; }
.badge-na { background: #e6e6e6; color: #3d3d3d; }
.pass { color: #1b5e20; font-weight: 700; }
.fail { color: #a4161a; font-weight: 700; }
figure { margin: 0.8rem 0; max-width: 46rem; }
figure.small { max-width: 30rem; }
figure.wide { max-width: 60rem; }
svg.figure-svg, img.figure-img { display: block; width: 100%; height: auto; }
svg.figure-svg * { stroke-linejoin: round; stroke-linecap: butt; }
figcaption { font-size: 0.85rem; margin-top: 0.2rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(19rem, 1fr)); gap: 0.9rem; margin: 0.8rem 0; }
.card { border: 1px solid #d5dae0; border-radius: 0.4rem; padding: 0.7rem 0.8rem; }
.card.na { background: #f3f3f3; color: #4d4d4d; }
.card p { margin: 0.3rem 0; font-size: 0.92rem; }
.card figure { margin: 0.5rem 0 0; }
details { margin: 0.3rem 0; font-size: 0.88rem; }
summary { cursor: pointer; color: #0b4f94; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; align-items: start; }
code { font-size: 0.9em; }
table.summary { font-size: 0.85rem; min-width: 44rem; }
table.summary th, table.summary td { padding: 0.2rem 0.35rem; }
table.summary thead th { vertical-align: bottom; }
table.summary .cmp, table.summary .contrast { display: block; }
table.summary .contrast { font-weight: 400; color: #4d4d4d; }
table.summary tr.group th { background: #eef0f3; font-weight: 700; padding: 0.1rem 0.35rem; }
table.summary th[scope="row"] { font-weight: 600; }
table.summary th[scope="row"] .unit { display: block; font-weight: 400; color: #4d4d4d; }
table.summary td { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.summary td a { color: #1a1a1a; text-decoration: none; }
table.summary td .est { font-weight: 700; }
table.summary td .ci { font-size: inherit; }
td.v-sup { background: #dcefdf; }
td.v-con { background: #f9dede; }
td.v-nid { background: #e3eef9; }
td.v-na { background: #ececec; color: #4d4d4d; }
td.v-wh { background: #f3ecf8; }
table.summary .lit { display: block; font-style: italic; }
.summary-lede, .summary-foot { font-size: 0.85rem; margin: 0.3rem 0; max-width: none; }
.fp { position: relative; display: block; width: 8rem; height: 0.9rem; }
.fp-claim { position: absolute; top: 0; bottom: 0; background: #e2f0e5; }
.fp-zero { position: absolute; top: 0; bottom: 0; border-left: 1px dashed #595959; }
.fp-ci { position: absolute; top: 0.4rem; height: 2px; background: #1a1a1a; }
.fp-pt { position: absolute; top: 0.2rem; width: 0.5rem; height: 0.5rem; margin-left: -0.25rem; background: #0b5cad; }
footer { margin-top: 3rem; border-top: 1px solid #d5dae0; padding-top: 0.6rem; font-size: 0.85rem; color: #4d4d4d; }
@media (max-width: 40rem) {
  body { padding: 0 0.6rem 2rem; }
  nav.toc ol { columns: 1; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 0.4rem; }
}
@page :first { margin: 7mm 9mm 9mm; }
@page {
  size: A4;
  margin: 15mm 13mm 17mm;
  @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #4d4d4d; }
  @bottom-left { content: string(doctitle); font-size: 8pt; color: #4d4d4d; }
}
@media print {
  html { font-size: 9pt; }
  body { max-width: none; padding: 0; }
  h1 { string-set: doctitle content(); }
  h2 { break-before: page; border-top: none; margin-top: 0; }
  /* page 1: the header and the summary, 8 pt, nothing else */
  header h1 { font-size: 13pt; margin: 0 0 1pt; }
  header .lede { font-size: 8pt; margin: 0 0 2pt; }
  header .banner { font-size: 8pt; margin: 2pt 0; padding: 1pt 4pt; border-width: 1px; max-width: none; }
  #summary-h { break-before: auto; font-size: 10pt; margin: 2pt 0 1pt; padding: 0; }
  #summary { break-after: page; }
  #summary p, #summary table { font-size: 8pt; line-height: 1.08; }
  table.summary { width: 100%; min-width: 0; }
  table.summary th, table.summary td { padding: 0 2pt; border-bottom-width: 0.5pt; }
  table.summary td .ci { display: block; }
  table.summary sup.ref { font-size: 8pt; vertical-align: baseline; margin-left: 1pt; }
  table.summary sup.ref::before { content: "["; }
  table.summary sup.ref::after { content: "]"; }
  .summary-lede, .summary-foot { margin: 2pt 0; }
  #claims table, #cohort table, #balance table { width: 100%; }
  /* fixed column widths: no measuring of every cell's text before the table is laid out */
  #claims table, #cohort table, #balance table { table-layout: fixed; }
  #claims table th:first-child { width: 16%; }
  #claims table.claim th:nth-child(2) { width: 10%; white-space: normal; }
  #claims table.detail th:nth-child(2), #claims table.detail th:nth-child(3) { width: 22%; }
  #claims .fp { width: 100%; }
  #claims .fp-img { display: block; width: 100%; height: 0.9rem; }
  #claims .badge { white-space: normal; }
  #claims h3 { margin-top: 10pt; }
  #claims .keep { break-inside: auto; }
  table.summary tr.group, .screen-only { display: none; }
  h2, h3, h4 { break-after: avoid; }
  .skip-link, summary { display: none; }
  a { color: #1a1a1a; text-decoration: none; }
  .table-scroll { overflow: visible; }
  table.scorecard { min-width: 0; width: 100%; }
  table { font-size: 8pt; }
  figure, .card, tr, dl.facts, .keep { break-inside: avoid; }
  caption { break-after: avoid; }
  /* block and inline-block layout instead of grids: the same look on paper, far less layout work */
  .cards, .pair { display: block; }
  .card { display: inline-block; width: 49%; margin: 0 0 0.6rem; vertical-align: top; }
  .pair > * { margin-bottom: 0.6rem; }
  dl.facts { display: block; }
  dl.facts dt { float: left; clear: left; width: 8rem; white-space: nowrap; }
  dl.facts dd { margin-left: 8.5rem; }
  .intro { break-after: avoid; }
  details { display: none; }
  nav.toc ol { columns: 2; }
}
"""
