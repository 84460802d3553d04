"""The HTML report of a run directory: one self-contained page, a section per analysis.

`build(run_dir)` finds every manifest below `run_dir` (`lossatlas.results.manifest.find`:
the `lossatlas.json` files that commands leave in their output folders) and
writes `run_dir/report.html`:

- a header with the run directory, a table of contents, the total time and
  the software versions the results were made with;
- a section per manifest (`report.sections`): title, what the analysis shows
  (for the commands it knows), key numbers, small tables, the figures,
  settings and timings. Any manifest gets a section, from commands written
  after this module too;
- the interactive figures are drawn by plotly.js, inlined once from the
  plotly package, from each figure's `.plotly.json`; the PNG beside it is
  embedded as a data URI and shown when JavaScript is off or a figure fails.

The page needs no network and no other file.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from lossatlas.report.page import document, esc, key_values, seconds
from lossatlas.report.sections import Context, section, toc_entry
from lossatlas.results import manifest
from lossatlas.results.files import decode_nonfinite, write_text

REPORT = "report.html"

__all__ = ["REPORT", "build", "render"]


def _read_all(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in manifest.find(root):
        try:
            body = decode_nonfinite(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            body = {"command": "?", "title": f"{path.name} could not be read", "results": {}}
            body["results"]["error"] = str(err)
        if not isinstance(body, dict):
            body = {"command": "?", "title": f"{path.name} is not a manifest object"}
        found.append((path, body))
    return found


def _total_seconds(found: list[tuple[Path, dict[str, Any]]]) -> float:
    """The summed time of the analyses; a manifest whose folder holds other manifests
    below it (the demo's own) counts only when nothing below it does."""
    folders = {p.parent.resolve() for p, _ in found}
    total = 0.0
    for path, body in found:
        here = path.parent.resolve()
        if any(f != here and here in f.parents for f in folders):
            continue
        t = (body.get("timings") or {}).get("total") if isinstance(body, Mapping) else None
        if isinstance(t, (int, float)):
            total += float(t)
    return total


def _versions(found: list[tuple[Path, dict[str, Any]]]) -> str:
    seen: dict[str, list[str]] = {}
    for _, body in found:
        v = body.get("versions")
        if isinstance(v, Mapping):
            for key, value in v.items():
                values = seen.setdefault(str(key), [])
                if str(value) not in values:
                    values.append(str(value))
    if not seen:
        return ""
    shown = {k: " / ".join(v) for k, v in seen.items()}
    mixed = [k for k, v in seen.items() if len(v) > 1]
    note = (
        f'<p class="note">Made with different versions of: {esc(", ".join(mixed))}.</p>'
        if mixed
        else ""
    )
    return f"<details><summary>software versions</summary>{key_values(shown)}{note}</details>"


def render(run_dir: str | PathLike, report_dir: str | PathLike | None = None) -> str:
    """The report page of `run_dir` as HTML text (links relative to `report_dir`).

    Raises:
        FileNotFoundError: `run_dir` does not exist.
        ValueError: `run_dir` holds no manifest.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"`run_dir` must be a directory; {str(root)!r} is not one.")
    found = _read_all(root)
    if not found:
        raise ValueError(
            f"no manifest (lossatlas.json) below {str(root)!r}: run a lossatlas command with "
            "--out inside it first (e.g. `lossatlas demo --out RUN_DIR`)."
        )
    anchors: dict[str, str] = {}  # manifest (and its folder) relative to root -> section id
    for i, (p, _) in enumerate(found):
        rel = p.resolve().relative_to(root.resolve())
        anchors[rel.as_posix()] = f"section-{i + 1}"
        anchors.setdefault(rel.parent.as_posix(), f"section-{i + 1}")
    ctx = Context(root=root, report_dir=Path(report_dir or root), anchors=anchors, counter=[0])
    sections = [section(body, p, f"section-{i + 1}", ctx) for i, (p, body) in enumerate(found)]
    toc = "".join(toc_entry(body, f"section-{i + 1}") for i, (_, body) in enumerate(found))
    made = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    name = root.resolve().name
    header = (
        f'<header class="page"><h1>lossatlas report: {esc(name)}</h1>'
        f'<p class="meta">run directory <code>{esc(root.resolve())}</code> · '
        f"{len(found)} analyses · total time {esc(seconds(_total_seconds(found)))} · "
        f"made {esc(made)}</p>"
        f'<nav class="toc"><h3>contents</h3><ol>{toc}</ol></nav>{_versions(found)}</header>'
    )
    return document(f"lossatlas report: {name}", header, "\n".join(sections), _plotly_js())


def _plotly_js() -> str:
    import plotly.offline

    return plotly.offline.get_plotlyjs()


def build(run_dir: str | PathLike, out: str | PathLike | None = None) -> Path:
    """Write the report of `run_dir` to `out` (default `run_dir/report.html`), atomically.

    Returns:
        The path of the page.

    Raises:
        FileNotFoundError: `run_dir` does not exist.
        ValueError: `run_dir` holds no manifest, or `out` is not an .html file.
    """
    path = Path(out) if out is not None else Path(run_dir) / REPORT
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"`out` must end in '.html'; got {str(path)!r}.")
    text = render(run_dir, report_dir=path.parent)
    return write_text(path, text)
