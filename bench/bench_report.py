"""Benchmark of ``spinetrack report --pdf``: the summary-first report against the report as it
was, and its figures drawn beside the printing against drawn first.

    .venv/bin/python bench/bench_report.py                       # the README's demo, made here
    .venv/bin/python bench/bench_report.py --results scorecard.json
    .venv/bin/python bench/bench_report.py --baseline 3ac64d0    # the commit to compare with

The scorecard document is the README's demo (``spinetrack demo --patients 2000 --seed 7``, then
``spinetrack analyze``), made once in a temporary directory unless ``--results`` names one; the
analysis time is reported apart. The same document is then rendered to HTML and PDF (A4) by the
current code and by the report code of ``--baseline`` (extracted with ``git archive`` into a
temporary directory and imported from there, in its own process), each in a fresh process, one
after the other, in the same run, so that all meet the same machine. Three ways:

* ``before``: the baseline's ``render_html`` then ``write_pdf``;
* ``now, one process``: today's ``render_html(for_print=True)`` then ``write_pdf``, the figures
  drawn first, then the PDF (as any caller that is not the command line does);
* ``now``: ``spinetrack.reports.print_report.write_report`` as ``spinetrack report --pdf``
  calls it: the figures drawn in worker processes while WeasyPrint lays out the text (the HTML
  and PDF times overlap, so only the total is given).

Prints a table; writes ``bench/results/report.json`` (seconds for the HTML and for the PDF,
pages, PDF bytes) with the ratios to ``now``. Each is rendered ``--repeat`` times (3),
interleaved; the table gives the median (and the fastest total), the JSON every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "report.json"
BASELINE = "3ac64d0"  # the commit before the summary-first report (issue 19)

_RENDER = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from spinetrack.reports import render_html, write_pdf
doc = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
pdf, html_out = Path(sys.argv[2]), Path(sys.argv[2]).with_suffix(".html")
if sys.argv[3] == "parallel":  # as spinetrack report --pdf does it
    from spinetrack.reports.print_report import write_report
    t1 = time.perf_counter()
    write_report(doc, html_out, pdf)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "html_s": None, "pdf_s": None, "report_s": t3 - t1,
                      "html_bytes": html_out.stat().st_size}))
    raise SystemExit(0)
t1 = time.perf_counter()
try:
    html = render_html(doc, for_print=True)  # the page to print
except TypeError:  # the baseline has no print rendering
    html = render_html(doc)
t2 = time.perf_counter()
write_pdf(html, pdf)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "html_s": t2 - t1, "pdf_s": t3 - t2, "report_s": t3 - t1,
                  "html_bytes": len(html.encode())}))
"""


def _spinetrack(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "spinetrack", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def make_results(work: Path) -> tuple[Path, float]:
    url = f"sqlite:///{work / 'demo.db'}"
    _spinetrack("demo", "--patients", "2000", "--seed", "7", "--database-url", url, "--json")
    out = work / "scorecard.json"
    t = time.perf_counter()
    _spinetrack("analyze", "--database-url", url, "--json", "--out", str(out))
    return out, time.perf_counter() - t


def render(results: Path, pdf: Path, src: Path | None, mode: str) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:  # the baseline's package first on the path
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RENDER, str(results), str(pdf), mode], check=True, env=env,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    from pypdf import PdfReader

    row.update(wall_s=wall, pages=len(PdfReader(pdf).pages),
               pdf_bytes=pdf.stat().st_size)
    return row


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each timing over the runs (a machine shared with other work slows single
    runs by up to a third), the fastest total, and every run's timings."""
    timed = ("import_s", "html_s", "pdf_s", "wall_s", "report_s")
    row = {k: None if runs[0][k] is None else statistics.median(r[k] for r in runs) for k in timed}
    row.update({k: runs[-1][k] for k in runs[-1] if k not in timed})
    row["fastest_report_s"] = min(r["report_s"] for r in runs)
    row["runs"] = [{k: None if r[k] is None else round(r[k], 2) for k in timed} for r in runs]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, help="a scorecard document (spinetrack analyze --out)")
    ap.add_argument("--baseline", default=BASELINE, help="the commit whose report code to compare with")
    ap.add_argument("--no-baseline", action="store_true", help="time the current report only")
    ap.add_argument("--repeat", type=int, default=3,
                    help="renders of each, interleaved (before, now, before, now …); the table shows the median")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        analysis_s = None
        results = args.results
        if results is None:
            results, analysis_s = make_results(work)
        variants: dict[str, tuple[Path | None, str]] = {}
        if not args.no_baseline:
            archive = subprocess.run(["git", "archive", args.baseline, "src"], check=True, cwd=ROOT,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
            variants[f"before ({args.baseline})"] = (work / "src", "serial")
        variants["now, one process"] = (None, "serial")
        variants["now"] = (None, "parallel")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for i in range(max(1, args.repeat)):  # interleaved, so that all meet the same machine
            for j, (name, (src, mode)) in enumerate(variants.items()):
                runs[name].append(render(results, work / f"{i}-{j}.pdf", src, mode))
        rows = {name: _median_row(rs) for name, rs in runs.items()}
    print(f"median of {max(1, args.repeat)} renders each")
    print(f"{'report':<22} {'HTML s':>7} {'PDF s':>7} {'total s':>8} {'fastest':>8} {'pages':>6} {'PDF kB':>8}")
    def cell(x: float | None) -> str:
        return f"{x:>7.1f}" if x is not None else f"{'—':>7}"

    for name, r in rows.items():
        print(f"{name:<22} {cell(r['html_s'])} {cell(r['pdf_s'])} {r['report_s']:>8.1f} {r['fastest_report_s']:>8.1f} "
              f"{r['pages']:>6} {r['pdf_bytes'] / 1000:>8.0f}")
    doc: dict[str, Any] = {"repeat": max(1, args.repeat),
                           "results_document": str(args.results or "README demo: 2,000 patients, seed 7"),
                           "analysis_s": analysis_s, "rows": rows, "machine": platform.platform(),
                           "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    now = rows["now"]
    doc["ratio_to_now"] = {name: {k: r[k] / now[k] for k in ("report_s", "pages", "pdf_bytes")}
                           for name, r in rows.items() if name != "now"}
    for name, ratios in doc["ratio_to_now"].items():
        print(f"ratio {name} / now: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    if analysis_s is not None:
        print(f"analysis (spinetrack analyze, not part of the report when rendered from a saved analysis): "
              f"{analysis_s:.1f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
