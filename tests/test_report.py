"""`lossatlas report`: one offline page, a section per manifest, strict JSON, escaped text."""

import base64
import json
import re

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from typer.testing import CliRunner

from lossatlas import plot, report
from lossatlas.cli import app
from lossatlas.plot import interactive as plot_interactive
from lossatlas.plot import surface_html as plot_html
from lossatlas.results import manifest

EVIL = '<script>alert("x")</script> & </script><!--'
FIGURE_BLOCK = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def strict_loads(text):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def png(path):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return plot.save(fig, path)


@pytest.fixture
def run_dir(tmp_path):
    """Three hand-made analyses: a surface with NaN, an unknown command, an escaping test."""
    root = tmp_path / "run"
    alpha, beta = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    loss = np.add.outer(alpha**2, beta**2)
    loss[0, 0] = np.nan
    ds = xr.Dataset({"loss": (("alpha", "beta"), loss)}, coords={"alpha": alpha, "beta": beta})
    ds.attrs["title"] = EVIL
    out = root / "plane"
    with manifest.record(out, "surface", {"kind": "plane", "grid": 5}, title="A plane") as rec:
        rec.results |= {"min_loss": 0.0, "nan_count": float("nan"), "ratio": float("inf")}
        rec.table("rows", [{"alpha": 0.5, "loss": float("-inf")}, {"alpha": 1.0, "loss": 2}])
        rec.figure(png(out / "contour.png"), "contours")
        rec.figure(plot_interactive.save(plot_html.figure_json(ds, "contour"),
                                         out / "contour.plotly.json"), "contours")  # fmt: skip
        rec.figure(plot_interactive.save(plot_html.figure_json(ds, "surface"),
                                         out / "surface3d.plotly.json"), "3-D")  # fmt: skip
        rec.figure(out / "gone.png", "a file that was deleted")
    out = root / "geometry" / "xor"
    with manifest.record(out, "geometry xor", {"nested": {"a": [1, 2]}}, title=EVIL) as rec:
        rec.results["stationary_points"] = {"minima": 0, "saddles": 12}
        rec.results["long"] = list(range(40))
        rec.figure(png(out / "only.png"), EVIL)
    (root / "notes").mkdir()
    (root / "notes" / "lossatlas.json").write_text('{"command": "x", "results": {"v": NaN}}')
    return root


def test_one_page_with_a_section_per_manifest(run_dir):
    page = report.build(run_dir)
    assert page == run_dir / "report.html"
    text = page.read_text()
    assert text.count("plotly.js v") == 1  # the library, inlined once
    assert text.count('<section class="analysis"') == 3
    assert text.count('<li><a href="#section-') == 3
    for sid in ("section-1", "section-2", "section-3"):
        assert f'id="{sid}"' in text
    # every interactive figure: a plot container, its strict JSON and its PNG fallback
    blocks = FIGURE_BLOCK.findall(text)
    assert len(blocks) == 2 and text.count('data-figure="figure-') == 2
    for _, body in blocks:
        figure = strict_loads(body)
        assert figure["data"][0]["z"][0][0] is None  # the NaN cell is null, not NaN
    contour_png = (run_dir / "plane" / "contour.png").read_bytes()
    assert base64.b64encode(contour_png).decode() in text
    assert "missing figure file: gone.png" in text
    assert "NaN" in text and "∞" in text and "−∞" in text
    assert "minima: 0" in text and "… (40 values)" in text
    assert "<a href" in text and "total time" in text and "software versions" in text


def test_text_is_escaped_and_script_blocks_cannot_be_closed(run_dir):
    text = report.build(run_dir).read_text()
    assert '<script>alert("x")' not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in text
    for _, body in FIGURE_BLOCK.findall(text):
        assert "</" not in body and "<!--" not in body
    # the figure JSON still holds the title exactly
    titles = [strict_loads(b)["layout"]["title"]["text"] for _, b in FIGURE_BLOCK.findall(text)]
    assert titles == [EVIL, EVIL]


def test_cli_builds_the_page_and_names_bad_input(run_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").stat().st_size > 4_000_000  # plotly.js is inside
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no manifest" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "must be a directory" in result.output
    with pytest.raises(ValueError, match=r"`out` must end in '\.html'"):
        report.build(run_dir, tmp_path / "r.txt")


def test_every_command_that_records_a_manifest_has_an_introduction():
    from pathlib import Path

    from lossatlas.report.sections import INTROS

    src = Path(report.__file__).parents[1]
    recorded, prefixes = set(), set()
    for path in src.rglob("*.py"):
        text = path.read_text()
        recorded |= set(re.findall(r'manifest\.(?:record|begin)\(\s*[^,]+,\s*"([a-z ]+)"', text))
        prefixes |= set(re.findall(r'manifest\.(?:record|begin)\(\s*[^,]+,\s*f"([a-z ]+) \{', text))
    assert {"topology", "geometry xor", "study asymmetry", "surface"} <= recorded
    assert "spectrum" in prefixes  # f"spectrum {analysis}": every analysis needs its own
    missing = sorted(c for c in recorded if c not in INTROS and c.split(" ")[0] not in INTROS)
    missing += sorted(p for p in prefixes if not any(k.startswith(p + " ") for k in INTROS))
    assert not missing, f"commands without a report introduction: {missing}"


def test_a_topology_run_gets_its_section_with_barcode_merge_tree_and_basins(tmp_path):
    out = tmp_path / "run" / "topology"
    result = CliRunner().invoke(app, ["topology", "--synthetic", "himmelblau", "--steps", "21",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = report.build(tmp_path / "run").read_text()
    assert "sublevel-set merge tree" in text  # the section's introduction
    ids = [sid for sid, _ in FIGURE_BLOCK.findall(text)]
    assert len(ids) == 4  # barcode, persistence diagram, merge tree, basins: all interactive
    for name in ("barcode", "persistence_diagram", "merge_tree", "basins"):
        png_bytes = (out / f"{name}.png").read_bytes()
        assert base64.b64encode(png_bytes).decode() in text


def test_the_demo_total_time_counts_each_analysis_once(tiny_demo):
    out, _ = tiny_demo
    found = [(p, json.loads(p.read_text())) for p in manifest.find(out)]
    steps = sum(b["timings"]["total"] for p, b in found if p.parent != out)
    assert report._total_seconds(found) == pytest.approx(steps)


def test_a_section_names_files_rewritten_after_its_record(run_dir):
    import os

    page = report.render(run_dir)
    assert "Changed after this record was written" not in page
    contour = run_dir / "plane" / "contour.png"
    later = (run_dir / "plane" / manifest.MANIFEST).stat().st_mtime + 5
    os.utime(contour, (later, later))  # as a rerun that stopped half way would leave it
    page = report.render(run_dir)
    assert page.count("Changed after this record was written") == 1
    assert "<code>contour.png</code>" in page
