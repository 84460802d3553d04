"""Plots: cell placement, labelled levels, NaN cells, log scales, files written, HTML offline."""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from lossatlas import plot
from lossatlas.plot.surface_html import contour_html, figure_json, surface_html

NAN_CELL = (3, 4)  # (alpha index, beta index)


def bowl(kind: str = "pca", na: int = 21, nb: int = 17) -> xr.Dataset:
    """An elongated quadratic bowl with one NaN cell, two solutions and a trajectory."""
    alpha, beta = np.linspace(-1.0, 1.0, na), np.linspace(-0.8, 0.8, nb)
    a, b = np.meshgrid(alpha, beta, indexing="ij")
    loss = 0.05 + a**2 + 3 * b**2
    if nb > NAN_CELL[1]:
        loss[NAN_CELL] = np.nan
    steps = np.arange(0, 60, 10)
    t = np.linspace(0, 1, len(steps))
    return xr.Dataset(
        {
            "loss": (("alpha", "beta"), loss),
            "accuracy": (("alpha", "beta"), 1 / (1 + loss)),
            "marker_alpha": (("marker",), [0.0, 0.6]),
            "marker_beta": (("marker",), [0.0, -0.3]),
            "trajectory_alpha": (("step",), 0.9 * (1 - t)),
            "trajectory_beta": (("step",), 0.6 * (1 - t) ** 2),
        },
        coords={"alpha": alpha, "beta": beta, "marker": ["sgd", "adam"], "step": steps},
        attrs={"kind": kind, "explained_variance": [0.873, 0.052], "settings": "{}"},
    )


def line_ds(kind: str = "line") -> xr.Dataset:
    alpha = np.linspace(-0.5, 1.5, 41)
    loss = 0.1 + (alpha * (1 - alpha)) ** 2 * 4
    loss[5] = np.nan
    return xr.Dataset(
        {
            "loss": ("alpha", loss),
            "test_loss": ("alpha", loss + 0.1),
            "accuracy": ("alpha", 1 - loss / 4),
            "test_accuracy": ("alpha", 0.95 - loss / 4),
        },
        coords={"alpha": alpha},
        attrs={"kind": kind},
    )


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def mesh_of(fig: Figure) -> QuadMesh:
    return next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))


def label_texts(fig: Figure) -> list[float]:
    """The clabel texts of the first axes, as numbers (marker labels are skipped)."""
    texts = [t.get_text() for t in fig.axes[0].texts]
    return [float(t) for t in texts if re.fullmatch(r"[-+0-9.e]+", t)]


def script_sources(html: str) -> list[str]:
    """The `src` of every <script> tag (the inline bundle's text is not parsed as tags)."""
    found: list[str] = []

    class Scripts(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v or "" for k, v in attrs if tag == "script" and k == "src")

    Scripts().feed(html)
    return found


DRAW_2D = [plot.contour, plot.heatmap, plot.surface3d]


@pytest.mark.parametrize("draw", [*DRAW_2D, "line"], ids=lambda d: getattr(d, "__name__", d))
def test_every_plot_returns_a_figure_and_saves_a_png_of_the_right_size(draw, tmp_path):
    fig = plot.line_plot(line_ds()) if draw == "line" else draw(bowl())
    assert isinstance(fig, Figure)
    path = plot.save(fig, tmp_path / "deep" / "er" / "plot.png")
    assert path.stat().st_size > 1000
    w, h = fig.get_size_inches() * plot.DPI
    assert png_size(path) == (round(w), round(h))


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_save_other_formats(suffix, tmp_path):
    path = plot.save(plot.heatmap(bowl()), tmp_path / f"h{suffix}")
    assert path.suffix == suffix and path.stat().st_size > 1000


def test_a_failed_draw_keeps_the_previous_figure_and_leaves_no_partial_file(tmp_path):
    path = plot.save(plot.heatmap(bowl()), tmp_path / "h.png")
    before = path.read_bytes()
    fig = plot.contour(bowl())

    def half_written(f, **kw):
        f.write(b"\x89PNG truncated")
        raise RuntimeError("disk full")

    fig.savefig = half_written
    with pytest.raises(RuntimeError, match="disk full"):
        plot.save(fig, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png"]


def test_a_failed_html_write_keeps_the_previous_page(tmp_path, monkeypatch):
    path = surface_html(bowl(), tmp_path / "s.html")
    before = path.read_text()

    def crash(fd):  # the new page's bytes are written, the machine goes down before the rename
        raise OSError("power lost")

    monkeypatch.setattr("lossatlas.results.files.os.fsync", crash)
    with pytest.raises(OSError, match="power lost"):
        contour_html(bowl(), path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.html"]


def test_save_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"`path` must end in one of \['.pdf', '.png', '.svg'\]"):
        plot.save(plot.heatmap(bowl()), tmp_path / "h.jpg")


@pytest.mark.parametrize("stored", [("alpha", "beta"), ("beta", "alpha")])
def test_heatmap_puts_a_non_square_grid_in_the_right_cells(stored):
    alpha, beta = np.array([-1.0, 0.0, 2.0]), np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    values = 10 * np.arange(3)[:, None] + np.arange(5)[None, :]  # [alpha, beta], all distinct
    da = xr.DataArray(values.astype(float), coords={"alpha": alpha, "beta": beta})
    ds = xr.Dataset({"loss": da.transpose(*stored)}, attrs={"kind": "plane"})
    mesh = mesh_of(plot.heatmap(ds))
    shown = mesh.get_array()
    assert shown.shape == (5, 3)  # rows are β (y), columns α (x)
    np.testing.assert_array_equal(shown, values.T)
    # Each cell holds the one grid point inside it (edges are midpoints, so an
    # uneven α still has each coordinate strictly inside its own cell).
    corners = mesh.get_coordinates()  # [nb + 1, na + 1, 2]
    for r in range(5):
        for c in range(3):
            (x0, y0), (x1, y1) = corners[r, c], corners[r + 1, c + 1]
            x = alpha[(alpha > x0) & (alpha < x1)].item()
            y = beta[(beta > y0) & (beta < y1)].item()
            assert shown[r, c] == da.sel(alpha=x, beta=y).item()


def test_nan_cells_stay_blank_without_warnings():
    # filterwarnings = error: any warning from matplotlib fails this test.
    mesh = mesh_of(plot.heatmap(bowl()))
    mask = np.ma.getmaskarray(mesh.get_array())
    assert mask.sum() == 1 and mask[NAN_CELL[1], NAN_CELL[0]]
    plot.contour(bowl(), filled=True)
    plot.contour(bowl(), log=True)
    plot.surface3d(bowl(), log=True)


def test_input_dataset_is_not_modified():
    ds = bowl()
    ds["loss"][0, 0] = np.inf
    plot.heatmap(ds)
    assert np.isinf(ds["loss"][0, 0])


@pytest.mark.parametrize("filled", [False, True])
def test_contour_labels_its_levels(filled):
    fig = plot.contour(bowl(), filled=filled)
    labels = label_texts(fig)
    assert len(labels) >= 3
    assert {"sgd", "adam"} <= {t.get_text() for t in fig.axes[0].texts}


def test_contour_levels_go_log_when_values_span_decades():
    ds = bowl()
    ds["loss"] = 1e-3 + 100 * ds["loss"] ** 2  # about 1e-3 .. 1e3
    fig = plot.contour(ds)
    lines = fig.axes[0].collections[0]
    assert isinstance(lines.norm, LogNorm)
    ratios = np.diff(np.log10(lines.levels))
    assert np.ptp(ratios) < 0.2  # evenly spread on a log scale
    assert not isinstance(plot.contour(bowl()).axes[0].collections[0].norm, LogNorm)


def test_contour_explicit_levels():
    fig = plot.contour(bowl(), levels=[0.5, 1.0, 2.0])
    assert sorted(set(label_texts(fig))) == [0.5, 1.0, 2.0]


def test_contour_axes_trajectory_and_aspect():
    fig = plot.contour(bowl("pca"))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "PC1 (87.3%)" and ax.get_ylabel() == "PC2 (5.2%)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["trajectory", "start (step 0)", "end (step 50)"]
    assert ax.get_aspect() == 1.0  # spans 2.0 and 1.6 are comparable
    assert ax.get_xlim() == (-1.0, 1.0)


def test_triangle_axes_name_the_solutions():
    ds = bowl("triangle").drop_vars(["marker_alpha", "marker_beta", "marker"])
    ds = ds.assign(
        marker_alpha=("marker", [0.0, 1.0, 0.0]), marker_beta=("marker", [0.0, 0.0, 1.0])
    ).assign_coords(marker=["a", "b", "c"])
    ax = plot.contour(ds).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("α (a → b)", "β (a → c)")


def test_draws_into_a_given_axes():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert plot.contour(bowl(), ax=ax) is fig
    sub = Figure().subfigures(1, 2)[0]
    assert isinstance(plot.heatmap(bowl(), ax=sub.add_subplot()), Figure)
    with pytest.raises(ValueError, match=r"`ax` must be a 3-D axes .*; got a 'rectilinear' axes"):
        plot.surface3d(bowl(), ax=ax)


def test_no_pyplot_figures_are_left_open():
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    for draw in DRAW_2D:
        draw(bowl())
    plot.line_plot(line_ds())
    assert plt.get_fignums() == before


@pytest.mark.parametrize("draw", DRAW_2D, ids=lambda d: d.__name__)
def test_unknown_var_is_refused(draw):
    with pytest.raises(ValueError, match=r"`var` must be one of \['loss', 'accuracy'\]; got 'x'"):
        draw(bowl(), var="x")


@pytest.mark.parametrize("draw", DRAW_2D, ids=lambda d: d.__name__)
def test_log_with_non_positive_values_is_refused(draw):
    ds = bowl()
    ds["loss"] = ds["loss"] - 0.05  # the centre is exactly 0
    with pytest.raises(ValueError, match=r"`loss` must be positive for log=True; got 1 value"):
        draw(ds, log=True)
    draw(ds)  # fine on a linear scale


def test_wrong_dimensionality_is_refused():
    with pytest.raises(ValueError, match=r"`ds` must be a 2-D surface .*Draw 1-D results"):
        plot.contour(line_ds())
    with pytest.raises(ValueError, match=r"`ds` must be a 1-D result with dim 'alpha'"):
        plot.line_plot(bowl())
    with pytest.raises(ValueError, match=r"at least 2 points along alpha and beta"):
        plot.contour(bowl(nb=1))


def test_all_nan_is_refused():
    ds = bowl()
    ds["loss"][:] = np.nan
    with pytest.raises(ValueError, match=r"`ds\['loss'\]` must have at least one finite value"):
        plot.heatmap(ds)


def test_flat_surface_draws_without_warning():
    ds = bowl()
    ds["loss"][:] = 2.0
    assert isinstance(plot.contour(ds), Figure)


@pytest.mark.parametrize("kind", ["line", "scaling"])
def test_line_plot_train_test_and_accuracy_twin(kind):
    fig = plot.line_plot(line_ds(kind), log=True)
    ax, twin = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == {"line": "α (θa → θb)", "scaling": "α (θ → αθ)"}[kind]
    assert [ln.get_linestyle() for ln in ax.lines if ln.get_label() in ("loss", "test loss")] == [
        "-",
        "--",
    ]
    assert twin.get_ylabel() == "accuracy (%)"
    assert np.nanmax(twin.lines[0].get_ydata()) > 1  # fractions shown in percent
    legend = [t.get_text() for t in fig.legends[0].get_texts()]  # below the plot
    assert legend == ["loss", "test loss", "accuracy", "test accuracy"]


def test_line_plot_without_accuracy_has_one_axes():
    fig = plot.line_plot(line_ds()[["loss"]].assign_attrs(kind="line"))
    assert len(fig.axes) == 1


# -- plotly ------------------------------------------------------------------------------


@pytest.mark.parametrize("write", [surface_html, contour_html], ids=lambda f: f.__name__)
def test_html_is_standalone_and_holds_the_data(write, tmp_path):
    ds = bowl()
    ds["loss"][0, 0] = 0.123456789
    path = write(ds, tmp_path / "out" / "s.html")
    html = path.read_text()
    assert "plotly.js v" in html and len(html) > 1_000_000  # the bundle, inline
    assert script_sources(html) == []  # no <script src=...>: nothing fetched from a CDN
    assert "0.123456789" in html
    assert "PC1 (87.3%)" in html
    if write is contour_html:
        assert '"sgd"' in html and '"trajectory"' in html


def test_html_path_must_be_html(tmp_path):
    with pytest.raises(ValueError, match=r"`path` must end in '.html'; got"):
        surface_html(bowl(), tmp_path / "s.png")


def test_figure_json_is_strict_json_with_rows_along_beta():
    for kind in ("surface", "contour"):
        fig = figure_json(bowl(), kind)
        json.dumps(fig, allow_nan=False)
        z = fig["data"][0]["z"]
        assert (len(z), len(z[0])) == (17, 21)
        assert z[NAN_CELL[1]][NAN_CELL[0]] is None
    fig = figure_json(line_ds(), "line", log=True)
    json.dumps(fig, allow_nan=False)
    assert [t["name"] for t in fig["data"]] == ["loss", "test loss", "accuracy", "test accuracy"]
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_figure_json_log_contour_ticks_in_values():
    fig = figure_json(bowl(), "contour", log=True)
    bar = fig["data"][0]["colorbar"]
    assert bar["ticktext"][:2] == ["0.05", "0.1"]
    np.testing.assert_allclose(bar["tickvals"][:2], np.log10([0.05, 0.1]))


def test_figure_json_errors():
    with pytest.raises(ValueError, match=r"`kind` must be one of \['surface', 'contour', 'line'\]"):
        figure_json(bowl(), "pie")
    with pytest.raises(ValueError, match=r"`var` must be one of \['loss', 'accuracy'\]; got 'x'"):
        figure_json(bowl(), "contour", var="x")
    with pytest.raises(ValueError, match=r"`loss` must be positive for log=True"):
        figure_json(bowl().assign(loss=lambda d: d.loss - 1), "surface", log=True)


def test_curvature_plots(tmp_path):
    from lossatlas.plot import curvature as plot_curvature

    t = np.linspace(-1, 3, 200)
    d = xr.DataArray(
        np.exp(-(t**2)) / np.sqrt(np.pi),
        dims=("eigenvalue",),
        coords={"eigenvalue": t},
        name="density",
        attrs={"draws": 2, "steps": 5, "sigma": 0.1},
    )
    fig = plot_curvature.density_plot(d, exact=d.values)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 2
    plot.save(fig, tmp_path / "density.png")
    with pytest.raises(ValueError, match="eigenvalue"):
        plot_curvature.density_plot(d.rename(eigenvalue="t"))
    record = xr.Dataset(
        {"eigenvalue": (("step", "rank"), np.array([[3.0, 1.0], [4.0, 2.0]]))},
        coords={"step": [0, 10], "rank": [1, 2]},
    )
    fig = plot_curvature.eigenvalues_over_training(record)
    assert len(fig.axes[0].lines) == 2
    cmap = xr.Dataset(
        {"ratio": (("alpha", "beta"), np.array([[0.1, 0.2, 0.3], [0.0, 0.5, 0.4]]))},
        coords={"alpha": [0.0, 1.0], "beta": [0.0, 0.5, 1.0]},
        attrs={"kind": "convexity"},
    )
    fig = plot_curvature.convexity_plot(cmap)
    mesh = fig.axes[0].collections[0]
    # rows are β, columns α: the value at (α=1, β=0.5) is 0.5
    assert np.asarray(mesh.get_array()).reshape(3, 2)[1, 1] == 0.5
    plot.save(
        plot_curvature.eigenvalue_plot(np.array([3.0, 1.0]), np.array([-0.5])), tmp_path / "eig.png"
    )


def test_surfaces_spanning_decades_get_a_log_colour_scale_and_iterations_are_named(tmp_path):
    """The plane through three solutions runs from 1e-4 at the solutions to 150 at its
    corners: on a linear scale everything near the solutions is one colour."""
    from lossatlas.plot import outputs
    from lossatlas.results import manifest

    a, b = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    loss = 1e-4 + 150 * (a[:, None] ** 2 + b[None, :] ** 2) ** 2
    ds = xr.Dataset(
        {"loss": (("alpha", "beta"), loss)}, coords={"alpha": a, "beta": b}, attrs={"kind": "plane"}
    )
    rec = manifest.begin(tmp_path, "surface", {})
    outputs.surface(rec, ds, tmp_path)
    captions = [f["caption"] for f in rec.figures]
    assert any("contours" in c and "(log colour scale)" in c for c in captions)
    contour = json.loads((tmp_path / "contour.plotly.json").read_text())["data"][0]
    assert max(contour["z"][0]) < 3  # log₁₀ of the values, ticked in the values
    spans_decades = plot.surface.spans_decades  # the contours' own rule, shared
    assert not spans_decades(np.array([1.0, 50.0])) and spans_decades(loss)
    assert outputs.steps_label(["lbfgs-gss"] * 3) == "iteration"
    assert outputs.steps_label(["sgd", "sgd"]) == "epoch"
    assert "iteration (L-BFGS-GSS)" in outputs.steps_label(["sgd", "lbfgs-gss"])
