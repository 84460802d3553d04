"""`lossatlas demo` end to end on tiny settings: every step, its numbers, resuming, the report."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import TINY_DEMO
from lossatlas import Objective, zoo
from lossatlas.cli import app
from lossatlas.geometry.solution_sets import kernel_pca
from lossatlas.results import manifest
from lossatlas.studies.demo import DemoSettings
from lossatlas.surface import load

STEPS = ["01-fcp-sgd", "02-fcp-lbfgs-gss", "03-lenet", "04-line-fcp", "05-line-lenet",
         "06-plane", "07-solutions", "08-spectrum", "09-path", "10-kpca"]  # fmt: skip


def fcp():
    split = zoo.dataset("digits")
    return Objective(zoo.build_for("fcp", split), split.train, loss="cross_entropy")


def test_every_step_leaves_its_manifest_and_the_report(tiny_demo):
    out, printed = tiny_demo
    found = {p.parent.name for p in manifest.find(out) if p.parent != out}
    assert found == set(STEPS)
    body = manifest.read(out)
    assert body["command"] == "demo" and len(body["tables"]["steps"]) == 11
    assert body["results"]["steps run now"] == 11
    assert (out / "report.html").exists() and "report.html" in printed.replace("\n", "")
    for step in body["tables"]["steps"]:
        assert (out / step["manifest"]).exists() and step["seconds"] > 0


def test_the_steps_numbers_match_the_library(tiny_demo):
    out, _ = tiny_demo
    obj = fcp()
    sgd0 = obj.load_point(out / "01-fcp-sgd" / "seed0" / "early_stopped.pt")
    lbfgs0 = obj.load_point(out / "02-fcp-lbfgs-gss" / "seed0" / "final.pt")
    # the line starts at the SGD solution and passes the L-BFGS-GSS one
    line = load(out / "04-line-fcp" / "surface.zarr")
    assert float(line.loss.sel(alpha=0.0)) == pytest.approx(obj.value(sgd0).item(), rel=1e-5)
    assert float(line.loss.sel(alpha=1.0)) == pytest.approx(obj.value(lbfgs0).item(), rel=1e-5)
    # kernel PCA of the twelve checkpoints, recomputed
    thetas, labels = [], []
    for optimizer, folder in (("SGD", "01-fcp-sgd"), ("L-BFGS-GSS", "02-fcp-lbfgs-gss")):
        for which in ("final", "early_stopped"):
            for seed in range(3):
                thetas.append(obj.load_point(out / folder / f"seed{seed}" / f"{which}.pt"))
                labels.append(f"{optimizer} {which.replace('_', '-')}")
    expected = kernel_pca(thetas, labels).kpca.values
    import xarray as xr

    stored = xr.open_zarr(out / "10-kpca" / "solutions.zarr", consolidated=False).kpca.values
    assert np.allclose(np.abs(stored), np.abs(expected), atol=1e-8)
    # the demo's summary repeats the steps' own numbers
    demo = manifest.read(out)["results"]
    eigen = manifest.read(out / "08-spectrum" / "lossatlas-eigen.json")["results"]
    assert demo["spectrum: top_eigenvalue SGD"] == eigen["top_eigenvalue SGD"]
    heights = manifest.read(out / "09-path")["tables"]["paths"]
    assert demo["path: height_linear"] == heights[0]["height"]
    assert heights[1]["height"] <= heights[0]["height"] + 1e-6  # the kept path is never worse
    history = json.loads((out / "01-fcp-sgd" / "seed1" / "history.json").read_text())
    sgd = manifest.read(out / "01-fcp-sgd")["tables"]["runs"]
    assert sgd[1]["train_loss"] == history["train_loss"][-1]
    assert (out / "03-lenet" / "sgd" / "seed0" / "final.pt").exists()
    # each optimizer from its own initialisations: L-BFGS-GSS run i from seed 1000 + i
    start = {f: torch.load(out / f / "seed0" / "trajectory.pt")[0] for f in STEPS[:2]}
    own = torch.cat(
        [
            p.detach().reshape(-1)
            for p in zoo.build_for("fcp", zoo.dataset("digits"), seed=1000).parameters()
        ]
    )
    assert torch.equal(start["02-fcp-lbfgs-gss"], own)
    assert not torch.equal(start["01-fcp-sgd"], start["02-fcp-lbfgs-gss"])


def test_a_second_run_skips_finished_steps_and_refuses_other_settings(tiny_demo):
    out, _ = tiny_demo
    ckpt = out / "02-fcp-lbfgs-gss" / "seed1" / "final.pt"
    before = ckpt.stat().st_mtime_ns
    runner = CliRunner()
    result = runner.invoke(app, ["demo", *TINY_DEMO, "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped (done before)") == 11
    assert manifest.read(out)["results"]["steps run now"] == 0
    assert ckpt.stat().st_mtime_ns == before
    changed = [a if a != "4" else "5" for a in TINY_DEMO]  # --grid 5
    result = runner.invoke(app, ["demo", *changed, "--out", str(out), "--no-report"])
    assert result.exit_code == 2
    assert "other settings (grid)" in " ".join(result.output.split())


def test_a_redone_step_redoes_every_step_that_read_it(tiny_demo, tmp_path):
    """Deleting a folder (the advice for a step of other settings) redoes its readers too."""
    import shutil

    out = tmp_path / "demo"
    shutil.copytree(tiny_demo[0], out)
    kpca = out / "10-kpca" / "lossatlas.json"
    inputs = manifest.read(kpca)["inputs"]
    assert "01-fcp-sgd/seed2/early_stopped.pt" in inputs and len(inputs) == 12
    shutil.rmtree(out / "01-fcp-sgd")
    args = ["demo", *TINY_DEMO, "--sgd-lr", "0.05", "--out", str(out), "--no-report"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = {st["step"]: st["resumed"] for st in manifest.read(out)["tables"]["steps"]}
    readers_of_sgd = ["04-line-fcp", "06-plane", "07-solutions", "08-spectrum (eigen)",
                      "08-spectrum (density)", "10-kpca"]  # fmt: skip
    assert [k for k, resumed in steps.items() if not resumed] == ["01-fcp-sgd", *readers_of_sgd]
    assert result.output.count("redoing: its inputs changed") == len(readers_of_sgd)
    # every array now comes from the new solutions
    obj = fcp()
    sgd0 = obj.load_point(out / "01-fcp-sgd" / "seed0" / "early_stopped.pt")
    line = load(out / "04-line-fcp" / "surface.zarr")
    assert float(line.loss.sel(alpha=0.0)) == pytest.approx(obj.value(sgd0).item(), rel=1e-5)
    again = CliRunner().invoke(app, args)
    assert again.output.count("skipped (done before)") == 11


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--seeds", "2"], "`seeds` must be an integer ≥ 3"), (["--sgd-lr", "0"], "`sgd_lr` must")],
)
def test_bad_settings_are_named(tmp_path, args, message):
    result = CliRunner().invoke(app, ["demo", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="`path_points` must"):
        DemoSettings(path_points=1).check()


def test_the_command_line_defaults_are_the_librarys():
    import inspect

    from lossatlas.cli.demo import demo

    defaults = {k: p.default for k, p in inspect.signature(demo).parameters.items()}
    for key, value in asdict(DemoSettings()).items():
        if key in defaults:
            assert defaults[key] == value, key
    assert set(asdict(DemoSettings())) - set(defaults) == {"lenet_activation", "path_lr"}


def test_the_paper_comparison_measures_what_the_paper_reports(tiny_demo):
    """Table 1, Table S1, Fig. 5 and Fig. 6 of the kPCA step, recomputed from the checkpoints."""
    from lossatlas.studies.paper_figures import PAPER_FCP

    out, _ = tiny_demo
    body = manifest.read(out / "10-kpca")
    rows = {(r["figure"], r["quantity"]): r for r in body["tables"]["paper"]}
    assert set(PAPER_FCP) <= set(rows)
    assert all(r["paper SGD"] is None for r in rows.values())  # digits: nothing to set beside
    obj = fcp()
    split = zoo.dataset("digits")
    test = obj.with_data(split.test)
    load = lambda f, s, w: obj.load_point(out / f / f"seed{s}" / f"{w}.pt")  # noqa: E731
    sgd_final = torch.stack([load("01-fcp-sgd", s, "final") for s in range(3)]).double()
    lbfgs_final = torch.stack([load("02-fcp-lbfgs-gss", s, "final") for s in range(3)]).double()
    sgd_early = torch.stack([load("01-fcp-sgd", s, "early_stopped") for s in range(3)]).double()
    row = rows[("Table 1", "mean training loss, final weights")]
    assert row["L-BFGS-GSS"] == pytest.approx(
        float(obj.values(lbfgs_final.float()).mean()), rel=1e-5
    )
    row = rows[("Table 1", "mean test loss, early-stopped weights")]
    assert row["SGD"] == pytest.approx(float(test.values(sgd_early.float()).mean()), rel=1e-5)
    row = rows[("Table S1", "weight s.d., final weights")]
    assert row["SGD"] == pytest.approx(float(sgd_final.std(correction=0)), rel=1e-9)
    origin = 0.5 * (sgd_early.mean(0) + lbfgs_final.mean(0))
    row = rows[("Fig. 5", "mean distance to ½(c_SGD + c_BFGS)")]
    assert row["L-BFGS-GSS"] == pytest.approx(float((lbfgs_final - origin).norm(dim=1).mean()))
    assert "Fig. 6: separation along kernel PCA component 1" in body["results"]
    assert "kpca: Table 1: mean training loss, final weights, SGD" in manifest.read(out)["results"]
