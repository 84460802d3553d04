"""One report section per manifest: title, key numbers, tables, figures, settings, timings.

`section` renders any manifest (commands it has never heard of included);
known commands get a sentence saying what the analysis shows and, for the
demo, a table of its steps linking to their sections.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lossatlas.report.page import esc, fmt, key_values, script_json, seconds, table
from lossatlas.results import manifest

# What each known analysis shows, with its source; shown under the section's title.
INTROS = {
    "demo": "The main job: SGD and L-BFGS-GSS solutions of the optimizer-strategies paper's "
    "FCP (and LeNet), each optimizer from its own initialisations, on real MNIST (mnist-5k) "
    "or the embedded digits, the analyses below, each in its own folder, and the paper's "
    "Table 1, Table S1, Fig. 5 and Fig. 6 numbers beside the measured ones (kPCA step).",
    "train": "A training run: full-data train and test loss and accuracy at each record; the "
    "early-stopped weights have the lowest test loss (optimizer-strategies paper, §II.1).",
    "surface": "The loss along a line or over a plane in parameter space (Goodfellow et al. "
    "2015; Im et al. 2016; Li et al. 2018, filter-normalised directions).",
    "spectrum diagonal": "The diagonal of the Hessian (or of the GGN or the empirical Fisher) by "
    "Hutchinson's estimator E[z ⊙ Az] with ±1 vectors, or exactly from n products (Bekas, "
    "Kokiopoulou and Saad 2007).",
    "spectrum eigen": "Extreme eigenvalues of the full-data Hessian (or of the GGN or the "
    "empirical Fisher) by thick-restart Lanczos with exact products; each residual bounds its "
    "eigenvalue's error.",
    "spectrum density": "The eigenvalue density of the Hessian (or of the GGN or the empirical "
    "Fisher, or two of them side by side) by stochastic Lanczos quadrature (Ghorbani, Krishnan, "
    "Xiao 2019, Algorithm 1; the Hessian against the GGN: Sagun et al. 2017, Papyan 2019).",
    "spectrum trace": "The trace of the Hessian (or of the GGN or the empirical Fisher) by "
    "Hutchinson or Hutch++ with a confidence interval.",
    "spectrum covariance": "The gradient covariance's spectrum against the Hessian's outliers "
    "(Ghorbani et al. 2019, §4).",
    "spectrum convexity": "|λmin/λmax| of the Hessian (or of the GGN or the empirical Fisher) "
    "over a plane (Li et al. 2018, Fig. 11).",
    "path": "A low path between two minima against the straight line; the path height is the "
    "largest loss along it (FourierPathFinder, optimizer-strategies paper, eq. 5).",
    "barriers": "Path heights between every pair of solutions "
    "(optimizer-strategies paper, Fig. 4).",
    "solutions": "The solution sets mapped by RBF kernel PCA, with linear PCA beside it "
    "(optimizer-strategies paper, §II.4 and Fig. 6).",
    "topology": "The loss on an N-dimensional grid along the top Hessian eigenvectors (or "
    "given directions), summarised by its sublevel-set merge tree: the 0-dimensional "
    "persistence barcode, the basins above a persistence threshold, and the grid coloured by "
    "basin (the landscapes-along-eigenvectors approach of the newest peer, done resumably).",
    "study optimizers": "SGD against L-BFGS-GSS with golden-section line search: Table 1's "
    "losses, path heights between solutions (Fig. 4), distances to each set's centroid "
    "(Fig. 5) and the kernel PCA map of the solutions (Fig. 6) (optimizer-strategies paper, "
    "§III).",
    "study solutions": "Im et al. (2016): the solutions of SGD, Adam, L-BFGS-GSS and RK2 "
    "compared by the loss between them, on planes and triangles through them, after switching "
    "optimizers mid-run, by basin size, and with batch normalisation.",
    "study asymmetry": "He et al. (2019): directions in which the valley of an SGD minimum is "
    "asymmetric (Definition 1), and where the stochastic weight average lies in them.",
    "geometry symmetry": "The weight-space symmetries of a network (Chen, Lu, Hecht-Nielsen "
    "1993; catalogue §5.2): the "
    "order of its symmetry group, the equivalent copies of one solution (its throng), and the "
    "wedge and cone that hold exactly one of them.",
    "geometry overparam": "Cooper: with more parameters than data points, the global "
    "minima form a manifold of dimension n − d; its dimension measured from the residual "
    "Jacobian's rank, and a walk along it at zero loss.",
    "geometry inertia": "The rank of the residual Jacobian and the inertia (positive, zero and "
    "negative eigenvalues) of the dense Hessian at a point.",
    "geometry xor": "XOR's stationary points (Hamey 1998; catalogue §5.3, §5.6.2): their "
    "Hessian inertia, and from each that is not a global minimum a non-ascending path to lower "
    "loss, a certificate that it is not a regional local minimum.",
    "geometry fdc": "The fitness–distance correlation around a known global minimum (Jones's "
    "measure as Gallagher 2000 applies it, eq. 9; catalogue §5.6.6) and loss statistics on "
    "spheres around it.",
    "geometry pattern": "An origin and a plane found so that the loss over the plane draws a "
    "given image (Czarnecki et al. 2020; Skorokhodov & Burtsev 2019; catalogue §2.1): how "
    "freely low-dimensional views of the landscape can be shaped.",
}
_IMAGES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}
_INTERACTIVE = ".plotly.json"


@dataclass
class Context:
    """What a section needs beyond its manifest."""

    root: Path  # the run directory
    report_dir: Path  # where the page is written (for relative links)
    anchors: dict[str, str]  # manifest path relative to root -> section id
    counter: list[int]  # figure ids, shared by all sections

    def figure_id(self) -> str:
        """A fresh element id for the next figure on the page."""
        self.counter[0] += 1
        return f"figure-{self.counter[0]}"


def _stem(path: str) -> str:
    for suffix in (_INTERACTIVE, *_IMAGES, ".html", ".htm", ".json"):
        if path.lower().endswith(suffix):
            return path[: -len(suffix)]
    return path


def _inside(path: Path, ctx: Context) -> bool:
    """Whether `path`, with every symlink and '..' resolved, lies in the run directory.

    A manifest is data, not code: one edited (or made) to name `../../secret.png`,
    an absolute path or a symlink out of the run must not put that file into a
    report that will be shared.
    """
    try:
        path.resolve().relative_to(ctx.root.resolve())
    except (ValueError, OSError):
        return False
    return True


def _data_uri(path: Path) -> str:
    mime = _IMAGES[path.suffix.lower()]
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _link(path: Path, ctx: Context) -> str:
    try:
        href = path.resolve().relative_to(ctx.report_dir.resolve()).as_posix()
    except ValueError:
        href = path.resolve().as_uri()
    return f'<a href="{esc(href)}">{esc(path.name)}</a>'


def _figures(body: Mapping[str, Any], folder: Path, ctx: Context) -> str:
    """Figures grouped by name: a plotly figure with its PNG fallback, or a static image."""
    groups: dict[str, dict[str, Any]] = {}
    for entry in body.get("figures") or []:
        if not isinstance(entry, Mapping) or "path" not in entry:
            continue
        path = str(entry["path"])
        group = groups.setdefault(_stem(path), {"files": [], "caption": ""})
        group["files"].append(path)
        group["caption"] = group["caption"] or str(entry.get("caption") or "")
    cards, links, notes = [], [], []
    for group in groups.values():
        outside = [raw for raw in group["files"] if not _inside(folder / raw, ctx)]
        notes += [
            f"refused figure path {esc(raw)}: it leads outside the run directory (a '..', an "
            "absolute path or a symlink), and the report embeds only files of the run"
            for raw in outside
        ]
        files = [folder / raw for raw in group["files"] if raw not in outside]
        missing = [p for p in files if not p.exists()]
        notes += [f"missing figure file: {esc(p.name)}" for p in missing]
        present = [p for p in files if p.exists()]
        interactive = next((p for p in present if p.name.endswith(_INTERACTIVE)), None)
        image = next((p for p in present if p.suffix.lower() in _IMAGES), None)
        caption = f"<figcaption>{esc(group['caption'])}</figcaption>" if group["caption"] else ""
        fallback = (
            f'<img class="fallback" src="{_data_uri(image)}" alt="{esc(group["caption"])}">'
            if image
            else ""
        )
        if interactive is not None:
            try:
                spec = json.loads(interactive.read_text())
            except (OSError, ValueError) as err:
                notes.append(f"unreadable figure {esc(interactive.name)}: {esc(err)}")
                spec = None
            if isinstance(spec, Mapping):
                fid = ctx.figure_id()
                layout = spec.get("layout") if isinstance(spec.get("layout"), Mapping) else {}
                wide = " wide" if "xaxis2" in layout or "scene2" in layout else ""
                if not fallback:
                    fallback = '<p class="fallback muted">(this figure needs JavaScript)</p>'
                cards.append(
                    f'<figure class="interactive{wide}" id="{fid}">'
                    f'<div class="plot" data-figure="{fid}-data"></div>{fallback}'
                    f'<script type="application/json" id="{fid}-data">{script_json(spec)}'
                    f"</script>{caption}</figure>"
                )
                continue
        if image is not None:
            alt = esc(group["caption"])
            cards.append(f'<figure><img src="{_data_uri(image)}" alt="{alt}">{caption}</figure>')
        links += [_link(p, ctx) for p in present if p.suffix.lower() not in _IMAGES]
    out = f'<div class="figures">{"".join(cards)}</div>' if cards else ""
    if links:
        out += f'<p class="meta">Other figure files: {", ".join(links)}</p>'
    if notes:
        out += "".join(f'<p class="note">{n}</p>' for n in notes)
    return out


def _tables(body: Mapping[str, Any]) -> str:
    tables = body.get("tables") or {}
    if not isinstance(tables, Mapping):
        return ""
    parts = []
    for name, rows in tables.items():
        rows = rows if isinstance(rows, list) else [{"value": rows}]
        parts.append(f"<h3>{esc(str(name).replace('_', ' '))}</h3>{table(rows)}")
    return "".join(parts)


def _demo_steps(body: Mapping[str, Any], folder: Path, ctx: Context) -> str:
    """The demo's steps, each linked to its section, with its time."""
    steps = body.get("tables", {}).get("steps") if isinstance(body.get("tables"), Mapping) else None
    if not isinstance(steps, list):
        return ""
    rows = []
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        rel = str(step.get("manifest", ""))
        if not _inside(folder / rel, ctx):
            continue  # a step outside the run is not this report's
        where = (folder / rel).resolve().relative_to(ctx.root.resolve())
        target = ctx.anchors.get(where.as_posix())
        name = esc(step.get("step", rel))
        link = f'<a href="#{target}">{name}</a>' if target else name
        rows.append(
            f"<tr><td>{link}</td><td>{esc(step.get('title', ''))}</td>"
            f"<td class=num>{esc(seconds(float(step.get('seconds') or float('nan'))))}</td>"
            f"<td>{'resumed' if step.get('resumed') else ''}</td></tr>"
        )
    return (
        "<h3>steps</h3><div class=table-wrap><table><thead><tr><th>step</th><th>what</th>"
        f"<th>time</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def section(body: Mapping[str, Any], path: Path, sid: str, ctx: Context) -> str:
    """The HTML of one analysis, from its manifest `body` read from `path`."""
    folder = path.parent
    command = str(body.get("command", "?"))
    title = str(body.get("title") or command)
    timings = body.get("timings") if isinstance(body.get("timings"), Mapping) else {}
    total = timings.get("total")
    where = folder.resolve().relative_to(ctx.root.resolve()).as_posix()
    meta = [f"<code>lossatlas {esc(command)}</code>", f"folder <code>{esc(where or '.')}</code>"]
    if body.get("started"):
        meta.append(f"started {esc(body['started'])}")
    if isinstance(total, (int, float)):
        meta.append(f"took {esc(seconds(float(total)))}")
    parts = [
        f'<section class="analysis" id="{sid}"><h2>{esc(title)}</h2>',
        f'<p class="meta">{" · ".join(meta)}</p>',
    ]
    changed = manifest.changed_since(path)
    if changed:
        names = ", ".join(f"<code>{esc(c)}</code>" for c in changed)
        parts.append(
            f'<p class="stale">Changed after this record was written: {names}. A later run '
            "into this folder did not finish; rerun its command to bring the record and the "
            "files back in step. The numbers below describe the earlier, finished run.</p>"
        )
    intro = INTROS.get(command) or INTROS.get(command.split(" ")[0])
    if intro:
        parts.append(f'<p class="intro">{esc(intro)}</p>')
    if command == "demo":
        parts.append(_demo_steps(body, folder, ctx))
    results = body.get("results")
    if isinstance(results, Mapping) and results:
        parts.append(f"<h3>key numbers</h3>{key_values(results)}")
    if command == "demo":  # its steps table is drawn above
        tables = {k: v for k, v in (body.get("tables") or {}).items() if k != "steps"}
        parts.append(_tables({"tables": tables}))
    else:
        parts.append(_tables(body))
    parts.append(_figures(body, folder, ctx))
    arrays = body.get("arrays") or []
    if isinstance(arrays, list) and arrays:
        listed = ", ".join(f"<code>{esc(a)}</code>" for a in arrays)
        parts.append(f'<p class="meta">Arrays and checkpoints: {listed}</p>')
        parts.append(_damaged_stores(arrays, folder))
    settings = body.get("settings")
    if isinstance(settings, Mapping) and settings:
        parts.append(f"<details><summary>settings</summary>{key_values(settings)}</details>")
    if timings:
        shown = {k: seconds(float(v)) for k, v in timings.items() if isinstance(v, (int, float))}
        parts.append(f"<details><summary>timings</summary>{key_values(shown)}</details>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _damaged_stores(arrays: list, folder: Path) -> str:
    """A warning naming every listed store whose finished chunks are missing or damaged."""
    from lossatlas.results.store import damaged_chunks

    found = []
    for name in arrays:
        target = folder / str(name)
        if str(name).endswith(".zarr") and target.is_dir():
            bad = damaged_chunks(target)
            if bad:
                found.append(f"<code>{esc(str(name))}</code> ({len(bad)} chunk(s))")
    if not found:
        return ""
    return (
        f'<p class="stale">Finished chunks missing or damaged in {", ".join(found)}: their '
        "checksums no longer match, so the figures and numbers above that come from them "
        "cannot be trusted. Rerun its command with the same settings and output folder: the "
        "damaged chunks are recomputed and the rest kept.</p>"
    )


def toc_entry(body: Mapping[str, Any], sid: str) -> str:
    """The table-of-contents line of one section, with its run time."""
    title = esc(body.get("title") or body.get("command", "?"))
    total = (body.get("timings") or {}).get("total") if isinstance(body, Mapping) else None
    time = f' <span class="muted">({esc(seconds(float(total)))})</span>' if total else ""
    return f'<li><a href="#{sid}">{title}</a>{time}</li>'


__all__ = ["INTROS", "Context", "fmt", "section", "toc_entry"]
