"""The page around the sections: style, script, escaping and value formatting.

One self-contained HTML file: plotly.js is inlined once (from the plotly
package, so the page works offline), each figure's JSON sits in a
`<script type="application/json">` block that the page's script hands to
`Plotly.newPlot`, and each interactive figure carries its PNG as a data URI,
shown when JavaScript is off or the figure fails to draw. Every piece of text
from a manifest goes through `esc`; figure JSON is strict (no NaN) and cannot
close its script block.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from typing import Any

from lossatlas.results.files import strict

STYLE = """
:root { --fg: #1d2330; --muted: #5d6675; --line: #d9dde3; --accent: #2b5fb4; --bg: #fbfbfc; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header.page, main { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header.page { padding-top: 28px; border-bottom: 1px solid var(--line); }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0 0 2px; }
h3 { font-size: 15px; margin: 18px 0 6px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.meta { color: var(--muted); font-size: 13px; }
nav.toc ol { columns: 2; column-gap: 32px; padding-left: 22px; }
nav.toc li { break-inside: avoid; margin: 2px 0; }
section.analysis { background: white; border: 1px solid var(--line); border-radius: 8px;
                   padding: 18px 22px; margin: 22px 0; }
p.intro { max-width: 900px; }
p.stale { background: #fff4e5; border-left: 4px solid #e8a33d; padding: 6px 10px; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px 3px 0; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 600; }
.table-wrap { overflow-x: auto; max-width: 100%; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); font-weight: 600; }
code { font-size: 12px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         background: white; min-width: 0; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figure .plot { display: none; width: 100%; height: 440px; }
figure.wide { grid-column: 1 / -1; }
.js figure.interactive .plot { display: block; }
.js figure.interactive img.fallback { display: none; }
.js figure.interactive.failed .plot { display: none; }
.js figure.interactive.failed img.fallback { display: block; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.note { font-size: 12px; color: #a33; }
footer { max-width: 1180px; margin: 0 auto 40px; padding: 0 24px; color: var(--muted);
         font-size: 12px; }
"""

# Draws every figure from its JSON block; a figure that fails falls back to its PNG and
# says why on the console (the browser test fails on any console error).
BOOT = """
(function () {
  var boxes = document.querySelectorAll("figure.interactive");
  function fail(box, why) {
    box.classList.add("failed");
    console.error("lossatlas report: figure " + box.id + " was not drawn: " + why);
  }
  if (typeof Plotly === "undefined") {
    boxes.forEach(function (box) { fail(box, "plotly.js did not load"); });
    return;
  }
  boxes.forEach(function (box) {
    var plot = box.querySelector(".plot");
    try {
      var spec = JSON.parse(document.getElementById(plot.dataset.figure).textContent);
      var layout = Object.assign({}, spec.layout || {}, {autosize: true});
      delete layout.width; delete layout.height;
      Plotly.newPlot(plot, spec.data || [], layout, {responsive: true, displaylogo: false})
        .then(function () { box.classList.add("rendered"); },
              function (err) { fail(box, err); });
    } catch (err) { fail(box, err); }
  });
})();
"""


def esc(value: Any) -> str:
    """Text for HTML content or attribute values."""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """Strict JSON safe inside a <script> block: '</' and '<!--' cannot end or open it."""
    text = json.dumps(strict(value), allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def number(value: float, digits: int = 6) -> str:
    """A number for a table: NaN and ±∞ spelled out, integers exact, else `digits` figures."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def fmt(value: Any, digits: int = 6, limit: int = 12) -> str:
    """A manifest value as short, escaped text: numbers rounded, long lists cut."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return number(value, digits)
    if isinstance(value, (list, tuple)):
        items = [fmt(v, digits, limit) for v in value[:limit]]
        more = f", … ({len(value)} values)" if len(value) > limit else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{esc(k)}: {fmt(v, digits, limit)}" for k, v in value.items()) + "}"
    return esc(value)


def is_number(value: Any) -> bool:
    """Whether `value` is an int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def key_values(values: Mapping[str, Any], digits: int = 6) -> str:
    """A two-column table of names and values."""
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td{' class=num' if is_number(v) else ''}>{fmt(v, digits)}</td></tr>"
        for k, v in values.items()
    )
    return f'<div class="table-wrap"><table>{rows}</table></div>'


def table(rows: list[Mapping[str, Any]], max_rows: int = 60) -> str:
    """Rows of dicts as a table (columns: the union of the keys, in order of appearance)."""
    if not rows:
        return '<p class="muted">(empty)</p>'
    columns = list(dict.fromkeys(k for r in rows if isinstance(r, Mapping) for k in r))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows[:max_rows]:
        r = r if isinstance(r, Mapping) else {columns[0] if columns else "": r}
        cells = "".join(
            f"<td{' class=num' if is_number(r.get(c)) else ''}>{fmt(r.get(c), 4, 6)}</td>"
            for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    more = (
        f'<p class="muted">… and {len(rows) - max_rows} more rows (in the manifest).</p>'
        if len(rows) > max_rows
        else ""
    )
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def seconds(value: float) -> str:
    """A duration for people: 12.3 s, 4 min 5 s, 1 h 2 min."""
    if not math.isfinite(value):
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(value, 60)
    if minutes < 60:
        return f"{int(minutes)} min {rest:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def document(title: str, header: str, body: str, plotly_js: str) -> str:
    """The whole page."""
    return (
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n"
        '<script>document.documentElement.classList.add("js");</script>\n'
        f"</head>\n<body>\n{header}\n<main>\n{body}\n</main>\n"
        "<footer>Made by <code>lossatlas report</code>. Interactive figures use plotly.js "
        "(inlined); each has a PNG fallback.</footer>\n"
        f"<script>{plotly_js}</script>\n<script>{BOOT}</script>\n</body>\n</html>\n"
    )
