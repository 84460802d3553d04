"""`lossatlas study optimizers` on digits with the FCP: Table 1's direction, the sets'
statistics against direct computations, and a study killed with SIGKILL that resumes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import Objective, studies, zoo
from lossatlas.cli import app
from lossatlas.geometry import solution_sets as sets
from lossatlas.studies.pool import torch_threads

pytestmark = pytest.mark.usefixtures("one_thread")

# small enough for seconds: 3 runs per optimizer, the best 2 kept, one path per set
TINY = [
    "--runs",
    "3",
    "--keep",
    "2",
    "--sgd-epochs",
    "20",
    "--lbfgs-iterations",
    "40",
    "--path-pairs",
    "1",
    "--path-steps",
    "3",
    "--path-points",
    "5",
    "--workers",
    "1",
    "--device",
    "cpu",
]
RUNS = 6


def _open(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, consolidated=False).load()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study run once through the CLI, uninterrupted (the reference)."""
    out = tmp_path_factory.mktemp("optimizers")
    with torch_threads(1):
        result = CliRunner().invoke(app, ["study", "optimizers", *TINY, "--out", str(out)])
    return out, result


def test_lbfgs_reaches_a_lower_training_loss_and_the_table_is_printed(study):
    out, result = study
    assert result.exit_code == 0, result.output
    assert "Table 1" in result.output
    for word in ("sgd", "lbfgs-gss", "train_loss", "test_loss"):
        assert word in result.output
    body = json.loads((out / "lossatlas.json").read_text())
    rows = {r["optimizer"]: r for r in body["tables"]["table1"]}
    # the direction of the paper's Table 1: L-BFGS-GSS fits the training data more closely
    assert rows["lbfgs-gss"]["train_loss"] < rows["sgd"]["train_loss"]
    assert body["results"]["lbfgs_lower_train_loss"] is True
    assert body["settings"]["device"] == "cpu"  # recorded; no part of what resumes
    # the table's means are those of the kept solutions, evaluated here from scratch
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("fcp", split), split.train)
    test = Objective(zoo.build_for("fcp", split), split.test)
    stack = _open(out / "solutions.zarr")
    for opt in ("sgd", "lbfgs-gss"):
        final = torch.from_numpy(stack.theta.sel(set=f"{opt}-train").to_numpy())
        early = torch.from_numpy(stack.theta.sel(set=f"{opt}-test").to_numpy())
        assert rows[opt]["train_loss"] == pytest.approx(float(obj.values(final).mean()), rel=1e-5)
        assert rows[opt]["test_loss"] == pytest.approx(float(test.values(early).mean()), rel=1e-5)
        # Table S1: the components of the set's weights, all vectors together
        assert rows[opt]["weight_std_train"] == pytest.approx(
            float(final.double().std(correction=0))
        )
        assert rows[opt]["weight_mean_test"] == pytest.approx(float(early.double().mean()))
    # the kept runs are the ones with the lowest final training loss
    runs = _open(out / "runs.zarr")
    for opt in ("sgd", "lbfgs-gss"):
        loss = runs.final_train_loss.sel(optimizer=opt).to_numpy()
        kept = runs.kept.sel(optimizer=opt).to_numpy()
        assert kept.sum() == 2 and loss[kept].max() <= loss[~kept].min()
    for name in (
        "curves.png",
        "heights.png",
        "heights.plotly.json",
        "distances.png",
        "origin_distances.png",
        "kpca.png",
        "kpca.plotly.json",
    ):
        assert (out / name).stat().st_size > 0, name
        assert any(f["path"] == name for f in body["figures"]), name


def test_distances_and_heights_agree_with_direct_computation(study):
    out, _ = study
    stack, analysis = _open(out / "solutions.zarr"), _open(out / "analysis.zarr")
    theta = stack.theta.to_numpy().astype(np.float64)
    for i, name in enumerate(stack.set.to_numpy()):
        centre = theta[i].mean(0)
        expected = np.linalg.norm(theta[i] - centre, axis=1)
        np.testing.assert_allclose(analysis.distance_to_centroid.sel(set=name), expected, 1e-10)
    # one pair per set: its height is the maximum loss on the path, at least the endpoints'
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("fcp", split), split.train)
    for name in stack.set.to_numpy():
        a, b = (int(analysis[end].sel(set=name)[0]) for end in ("pair_a", "pair_b"))
        ends = obj.values(torch.from_numpy(stack.theta.sel(set=name).to_numpy()[[a, b]]))
        height = float(analysis.height.sel(set=name)[0])
        assert height >= float(ends.max()) - 1e-6
        assert float(analysis.barrier.sel(set=name)[0]) == pytest.approx(
            height - float(ends.max()), abs=1e-5
        )


def test_fig4_is_tested_for_significance_with_the_number_of_pairs(study):
    out, result = study
    body = json.loads((out / "lossatlas.json").read_text())
    rows = body["tables"]["fig4_tests"]
    assert [(r["comparison"], r["measure"]) for r in rows] == [
        ("sgd-train vs lbfgs-gss-train", "height"),
        ("sgd-train vs lbfgs-gss-train", "barrier"),
        ("sgd-test vs lbfgs-gss-test", "height"),
        ("sgd-test vs lbfgs-gss-test", "barrier"),
    ]
    assert all(r["n_a"] == r["n_b"] == 1 for r in rows)  # one pair per set here
    assert all(r["p"] == pytest.approx(1.0) for r in rows)  # one against one: never significant
    assert body["results"]["paths"] == 4 and 0 <= body["results"]["paths_converged"] <= 4
    assert body["results"]["path_pairs_share_endpoints"] is False
    assert "Mann–Whitney" in result.output


def _kpca_reference(x: np.ndarray, gamma: float, k: int) -> np.ndarray:
    """The paper's §II.4 recipe written out: centred RBF kernel, its eigenvectors, √λ·a."""
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    kern = np.exp(-gamma * d)
    n = len(x)
    one = np.full((n, n), 1.0 / n)
    centred = kern - one @ kern - kern @ one + one @ kern @ one
    w, v = np.linalg.eigh(centred)
    w, v = w[::-1][:k], v[:, ::-1][:, :k]
    coords = v * np.sqrt(w)
    return coords * np.sign(coords[np.abs(coords).argmax(0), np.arange(k)])


def test_kernel_pca_is_deterministic_and_matches_the_written_out_recipe():
    g = np.random.default_rng(3)
    x = np.concatenate([g.normal(size=(10, 40)), 3 * g.normal(size=(10, 40))])
    first, gamma, eig = sets.kernel_pca_coordinates(x, 2, seed=7)
    again, gamma2, _ = sets.kernel_pca_coordinates(x, 2, seed=7)
    assert np.array_equal(first, again) and gamma == gamma2
    assert eig[0] >= eig[1] > 0
    np.testing.assert_allclose((first**2).sum(0), eig, rtol=1e-10)  # ‖√λ·a‖² = λ
    upper = ((x[:, None] - x[None]) ** 2).sum(-1)[np.triu_indices(20, 1)]
    assert gamma == pytest.approx(1 / np.median(upper), rel=1e-12)
    np.testing.assert_allclose(first, _kpca_reference(x, gamma, 2), atol=1e-10)
    fixed, g_fixed, _ = sets.kernel_pca_coordinates(x, 2, gamma=0.01)
    assert g_fixed == 0.01
    np.testing.assert_allclose(fixed, _kpca_reference(x, 0.01, 2), atol=1e-10)
    coords, ratio = sets.linear_pca(x, 2)
    u, s, _ = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(coords), np.abs(u[:, :2] * s[:2]), atol=1e-10)
    np.testing.assert_allclose(ratio, s[:2] ** 2 / (s**2).sum(), rtol=1e-12)


def test_bad_settings_are_refused_with_the_name_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"`keep` \(5\) must be at most `runs` \(3\)"):
        studies.optimizers(out=tmp_path, runs=3, keep=5)
    with pytest.raises(ValueError, match=r"`path_pairs` must be 0 \(no paths\) to 1"):
        studies.optimizers(out=tmp_path, runs=3, keep=2, path_pairs=2)
    with pytest.raises(ValueError, match="`path_method` must be one of"):
        studies.optimizers(out=tmp_path, runs=3, keep=2, path_method="spline")
    with pytest.raises(ValueError, match="`workers` must be an integer"):
        studies.optimizers(out=tmp_path, runs=3, keep=2, workers=0)
    for study in (studies.optimizers, studies.solutions, studies.asymmetry):
        with pytest.raises(ValueError, match="device 'cuda:7' was requested"):
            study(out=tmp_path, device="cuda:7")
    with pytest.raises(ValueError, match="kernel PCA needs at least two distinct"):
        sets.kernel_pca_coordinates(np.ones((3, 4)))
    assert not list(tmp_path.iterdir())


def _fingerprints(root: Path) -> dict[str, tuple[int, str]]:
    """(mtime in ns, SHA-256) of every file of every finished run below root/runs."""
    out = {}
    for done in root.glob("runs/*/*/done.json"):
        for f in sorted(done.parent.iterdir()):
            out[str(f.relative_to(root))] = (
                f.stat().st_mtime_ns,
                hashlib.sha256(f.read_bytes()).hexdigest(),
            )
    return out


def test_a_study_killed_mid_way_resumes_without_retraining_finished_runs(study, tmp_path):
    reference, _ = study
    command = [
        sys.executable,
        "-c",
        "from lossatlas.cli import app; app()",
        "study",
        "optimizers",
        *TINY,
        "--out",
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the in-process reference runs
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        while proc.poll() is None and not list(tmp_path.glob("runs/*/*/done.json")):
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: no process may finish more
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the study ended before it could be killed"
    finished = _fingerprints(tmp_path)
    n_done = len(list(tmp_path.glob("runs/*/*/done.json")))
    assert 1 <= n_done < RUNS, n_done
    assert not (tmp_path / "lossatlas.json").exists()

    result = CliRunner().invoke(app, ["study", "optimizers", *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"({n_done} of {RUNS} done before)" in result.output
    after = _fingerprints(tmp_path)
    assert {k: after[k] for k in finished} == finished  # finished runs untouched
    assert len(list(tmp_path.glob("runs/*/*/done.json"))) == RUNS
    assert not list(tmp_path.rglob(".tmp-*"))
    for name in ("solutions.zarr", "analysis.zarr"):
        assert _open(tmp_path / name).identical(_open(reference / name)), name
    runs, ref = _open(tmp_path / "runs.zarr"), _open(reference / "runs.zarr")
    assert runs.drop_vars("seconds").identical(ref.drop_vars("seconds"))
