"""Defects a careful user found (issue 18), each pinned by a test that failed before its fix."""

import re

import pytest
import torch

from lossatlas import Objective, save_checkpoint, surface, zoo


def _bn_mlp(split, seed):
    return zoo.build_for("mlp", split, widths=(64, 16, 10), batchnorm=True, seed=seed)


def test_test_objective_carries_the_checkpoints_batchnorm_statistics(tmp_path):
    """with_data (the test set of surfaces and paths) keeps the buffers load_point took."""
    split = zoo.dataset("digits")
    trained = _bn_mlp(split, seed=0)
    trained.train()
    with torch.no_grad():  # running statistics far from a fresh module's (0 and 1)
        for _ in range(5):
            trained(split.train[0] * 3.0 + 1.0)
    trained.eval()
    save_checkpoint(tmp_path / "bn.pt", trained)
    expected = Objective(trained, split.test).value(Objective(trained, split.test).point())

    obj = Objective(_bn_mlp(split, seed=1), split.train)  # another module, its own statistics
    theta = obj.load_point(tmp_path / "bn.pt")
    assert torch.allclose(obj.with_data(split.test).value(theta), expected, rtol=1e-6)
    plane = surface.random_plane(obj, theta, grid=3, test=split.test, progress=False)
    assert abs(float(plane.test_loss.sel(alpha=0.0, beta=0.0)) - float(expected)) < 1e-5


def test_model_arguments_are_read_as_the_factory_annotates_them():
    """--model-arg shortcut=false is False (not the true string 'false'); bad types are named."""
    from lossatlas.cli.common import parse_kwargs
    from lossatlas.results import inputs

    split = zoo.dataset("digits")
    for text in ("false", "False", "no", "0", "off"):
        kw = parse_kwargs([f"shortcut={text}"], "--model-arg")
        model = inputs.load_model("resnet20", split, seed=0, **kw)
        assert not any("shortcut" in name for name, _ in model.named_modules()), text
    with_shortcuts = inputs.load_model(
        "resnet20", split, seed=0, **parse_kwargs(["shortcut=yes"], "")
    )
    assert any("shortcut" in name for name, _ in with_shortcuts.named_modules())
    with pytest.raises(ValueError, match=r"--model-arg shortcut must be true or false.*'maybe'"):
        inputs.load_model("resnet20", split, **parse_kwargs(["shortcut=maybe"], ""))
    with pytest.raises(
        ValueError, match=r"--model-arg hidden \(each entry\) must be an integer; got 5.5"
    ):
        inputs.load_model("fcp", split, **parse_kwargs(["hidden=50,5.5"], ""))
    assert inputs.load_model("fcp", split, **parse_kwargs(["hidden=50"], ""))[-1].in_features == 50
    with pytest.raises(ValueError, match=r"--data-arg colour.*takes .*seed"):
        inputs.load_data("digits", colour="red")


def _spectrum(smallest: float, seed: int = 0) -> torch.Tensor:
    """A 300×300 symmetric matrix: top 30, 12, 5, a bulk piled up near 0, and `smallest`."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(300, 300, generator=g, dtype=torch.float64))
    bulk = torch.rand(296, generator=g, dtype=torch.float64) ** 6 * 2.0
    lam = torch.cat([torch.tensor([30.0, 12.0, 5.0]), bulk, torch.tensor([smallest])])
    return (q * lam) @ q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bottom_eigenvalue_sign_is_proven_by_its_residual(seed):
    """λ_min = −0.003 beside a bulk at zero: the Ritz value stopped at +2e-5 before the fix."""
    from lossatlas import curvature

    r = curvature.bottom_eigenvalues(_spectrum(-0.003, seed).float(), k=1, seed=seed)
    assert r.converged and bool(r.sign_known[0])
    assert float(r.eigenvalues[0]) < 0
    assert abs(float(r.eigenvalues[0]) + 0.003) <= float(r.residuals[0])
    ext = curvature.extremes(_spectrum(-0.003, seed).float(), seed=seed)
    assert ext.lambda_min < 0 and ext.sign_known and ext.condition_number == float("inf")


def test_an_eigenvalue_at_zero_has_no_sign():
    """Exactly singular: converged at the rounding floor, its sign reported as undetermined."""
    from lossatlas import curvature

    r = curvature.bottom_eigenvalues(_spectrum(0.0).float(), k=1)
    assert r.converged and not bool(r.sign_known[0])
    assert abs(float(r.eigenvalues[0])) <= float(r.residuals[0])
    assert curvature.extremes(_spectrum(0.0).float()).condition_number == float("inf")


def test_json_results_are_strict_json(tmp_path):
    """eigen.json held `Infinity` (an infinite condition number): not JSON; now null."""
    import json
    import math

    from lossatlas.results.files import write_json

    path = write_json(tmp_path / "x.json", {"condition_number": math.inf, "loss": [1.0, math.nan]})

    def refuse(name):
        raise ValueError(name)

    assert json.loads(path.read_text(), parse_constant=refuse) == {
        "condition_number": None,
        "loss": [1.0, None],
    }


def test_planes_through_solutions_hold_the_solutions_themselves():
    """11 or 41 points over [−0.25, 1.25] never hit 0 or 1: the corners' losses were missing."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=g), torch.randint(0, 2, (40,), generator=g)
    obj = Objective(torch.nn.Linear(3, 2), (x, y), dtype=torch.float64)
    pts = [torch.randn(obj.size, generator=g, dtype=torch.float64) for _ in range(4)]
    own = [float(obj.value(p)) for p in pts]
    for grid in (11, 41):
        tri = surface.triangle(obj, pts[:3], grid=grid, progress=False)
        quad = surface.quad(obj, pts, grid=grid, progress=False)
        assert tri.loss.shape == (grid, grid) == quad.loss.shape
        for (a, b), want in zip([(0, 0), (1, 0), (0, 1)], own, strict=False):
            assert float(tri.loss.sel(alpha=a, beta=b)) == pytest.approx(want, rel=1e-12)
        for (a, b), want in zip([(0, 0), (1, 0), (0, 1), (1, 1)], own, strict=True):
            assert float(quad.loss.sel(alpha=a, beta=b)) == pytest.approx(want, rel=1e-12)
        sol = surface.solutions(obj, pts[:3], grid=grid, progress=False)
        assert sol.loss.shape == (grid, grid)
        for a, b, want in zip(sol.marker_alpha.values, sol.marker_beta.values, own, strict=False):
            at = sol.loss.sel(alpha=a, beta=b, method="nearest")
            assert abs(float(at.alpha) - a) < 1e-12 and abs(float(at.beta) - b) < 1e-12
            assert float(at) == pytest.approx(want, rel=1e-9)


def test_the_report_embeds_no_file_from_outside_the_run(tmp_path):
    """A manifest naming ../secret.png, an absolute path or a symlink out must not leak it."""
    import base64

    from lossatlas import report
    from lossatlas.results import manifest

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nTOP-SECRET-BYTES")
    run = tmp_path / "run"
    (run / "step").mkdir(parents=True)
    (run / "step" / "link.png").symlink_to(secret)
    (run / "step" / "own.png").write_bytes(b"\x89PNG\r\n\x1a\nOWN-BYTES")
    rec = manifest.begin(run / "step", "train", {"epochs": 1})
    rec.figures += [
        {"path": "../../secret.png", "caption": "up"},
        {"path": str(secret), "caption": "absolute"},
        {"path": "link.png", "caption": "symlink"},
        {"path": "own.png", "caption": "own"},
    ]
    rec.finish()
    page = report.build(run).read_text()
    leaked = base64.b64encode(secret.read_bytes()).decode()
    assert leaked not in page and "TOP-SECRET" not in page
    assert base64.b64encode((run / "step" / "own.png").read_bytes()).decode() in page
    assert page.count("refused figure path") == 3


def test_an_objective_over_nan_data_is_refused():
    """The CLI refused NaN data; the Python API wrote an all-NaN store from it."""
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"inputs x hold 1 non-finite value"):
        Objective(torch.nn.Linear(3, 2), (x, y))
    with pytest.raises(ValueError, match=r"targets y hold 2 non-finite values"):
        Objective(
            torch.nn.Linear(3, 1),
            (torch.randn(4, 3), torch.tensor([0.0, 1, float("inf"), float("nan")])),
            loss="mse",
        )


def test_landscape_objectives_start_exactly_where_they_say():
    """rosenbrock's start (−1.2, 1) came back as −1.2000000476837158 (a float32 rounding)."""
    obj = zoo.landscape_objective("rosenbrock")
    assert obj.point().tolist() == [-1.2, 1.0]
    assert zoo.landscape_objective("rosenbrock", start=(0.1, 0.3)).point().tolist() == [0.1, 0.3]


def test_planes_of_different_seeds_share_no_direction():
    from lossatlas import directions

    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    obj = Objective(model, (torch.randn(8, 6), torch.randint(0, 2, (8,))))
    theta = obj.point()
    planes = [directions.random_plane(obj.space, theta, seed=s) for s in (0, 1, 2)]
    drawn = [d for plane in planes for d in plane]
    for i, a in enumerate(drawn):
        for b in drawn[i + 1 :]:
            assert not torch.allclose(a, b)
    assert all(
        torch.equal(a, b)
        for a, b in zip(planes[0], directions.random_plane(obj.space, theta, seed=0), strict=True)
    )


def test_ignore_none_is_taken_as_the_cli_spells_it():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    obj = Objective(model, (torch.randn(8, 3), torch.randint(0, 2, (8,))))
    a = surface.random_plane(obj, obj.point(), grid=3, ignore="none", progress=False)
    b = surface.random_plane(obj, obj.point(), grid=3, ignore=None, progress=False)
    assert float(abs(a.loss - b.loss).max()) == 0.0


def test_stores_open_in_xarray_without_a_warning(tmp_path):
    """zarr stores lacked consolidated metadata: xarray.open_zarr warned on every open."""
    import warnings

    import xarray as xr

    model = torch.nn.Linear(3, 2)
    obj = Objective(model, (torch.randn(8, 3), torch.randint(0, 2, (8,))))
    surface.random_plane(obj, obj.point(), grid=3, store=tmp_path / "s.zarr", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(tmp_path / "s.zarr")
    assert ds["loss"].shape == (9,) and bool(ds["done"].all())


def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path):
    """SIGINT exited with code 130 and no word."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lossatlas", "train", "--epochs", "100000", "--out", str(out)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    for line in proc.stdout:  # interrupt once training has begun, not during the imports
        if "out" in line and str(out.name) in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"interrupted: everything finished before Ctrl-C is saved in {out}" in err
    assert f"lossatlas train --epochs 100000 --out {out}" in err
    assert "Traceback" not in err


def test_xor_saturation_plateaus_are_not_reported_as_saddles():
    """Starts 4 and 5 end at ‖θ‖ ≈ 16–18 with outputs saturated and every Hessian eigenvalue
    below 1e-10; they were listed as saddles with 4–5 negative eigenvalues at L = 0.5."""
    from lossatlas.geometry import xor_analysis
    from lossatlas.geometry.xor import PLATEAU_TOL

    result = xor_analysis(starts=6, target=1e-3)
    plateaus = [r for r in result.rows if r["status"] == "plateau"]
    assert [r["start"] for r in plateaus] == [4, 5]
    assert all(r["type"] == "plateau" and r["negative"] is None for r in plateaus)
    assert all(abs(r["loss"] - 0.5) < 1e-6 for r in plateaus)
    for i in result.finite:  # what is left has curvature: a genuine stationary point
        assert float(result.points[i].inertia.eigenvalues.abs().max()) > PLATEAU_TOL
    assert 4 not in result.finite and 5 not in result.finite


def test_train_refuses_a_folder_holding_another_run(tmp_path):
    """train (and path) wrote into a folder of another run, leaving its files beside the new."""
    from typer.testing import CliRunner

    from lossatlas.cli import app

    runner = CliRunner()
    out = tmp_path / "run"
    base = ["train", "--epochs", "1", "--out", str(out)]
    assert runner.invoke(app, base).exit_code == 0
    assert runner.invoke(app, base).exit_code == 0  # the same run again is fine
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    other = runner.invoke(app, [*base, "--seed", "3"])
    assert other.exit_code == 2
    assert "holds another run (seed: 0 → 3)" in " ".join(other.output.split())
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing written
    replaced = runner.invoke(app, [*base, "--seed", "3", "--overwrite"])
    assert replaced.exit_code == 0
    from lossatlas.results import manifest

    assert manifest.read(out)["settings"]["seed"] == 3
    (tmp_path / "file").write_text("x")
    as_file = runner.invoke(app, ["train", "--epochs", "1", "--out", str(tmp_path / "file")])
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", as_file.output).split())  # rich's error box
    assert as_file.exit_code == 2 and "is a file" in text
