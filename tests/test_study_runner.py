"""The studies' runner: parallel runs equal serial ones, finished runs are never redone,
a finished run with other settings is refused, bad input is named."""

from __future__ import annotations

import json

import pytest
import torch

from lossatlas.results.files import write_dataset
from lossatlas.studies import RunSpec, run_all
from lossatlas.studies.pool import Workers
from lossatlas.studies.runner import read_summary

pytestmark = pytest.mark.usefixtures("one_thread")


def specs(epochs: int = 2) -> list[RunSpec]:
    return [
        RunSpec(
            key=f"sgd/{i}",
            model="fcp",
            data="digits",
            optimizer="sgd",
            init_seed=i,
            seed=i,
            epochs=epochs,
            swa_start=10,
            swa_every=5,
        )
        for i in range(2)
    ]


def test_parallel_runs_equal_serial_runs_and_are_not_redone(tmp_path):
    serial = run_all(specs(), tmp_path / "serial", workers=1, progress=False)
    with Workers(2) as pool:
        kw = {"workers": pool, "progress": False}
        parallel = run_all(specs(), tmp_path / "parallel", device="cpu", **kw)
        # the device reaches the runs in the worker processes: on meta (no values) they fail
        with pytest.raises(RuntimeError, match="meta tensors"):
            run_all(specs(), tmp_path / "meta", device="meta", **kw)
    for s, p in zip(serial, parallel, strict=True):
        assert s["final_train_loss"] == p["final_train_loss"]
        for name in ("final.pt", "early_stopped.pt", "swa.pt"):
            a = torch.load(tmp_path / "serial" / s["key"] / name)
            b = torch.load(tmp_path / "parallel" / p["key"] / name)
            assert all(torch.equal(a[k], b[k]) for k in a), name
    # 2 epochs of 22 steps: iterates 10, 15, ..., 40 averaged
    assert serial[0]["swa_iterates"] == 7
    stamp = (tmp_path / "serial" / "sgd/0" / "final.pt").stat().st_mtime_ns
    again = run_all(specs(), tmp_path / "serial", workers=1, progress=False)
    assert again == serial
    assert (tmp_path / "serial" / "sgd/0" / "final.pt").stat().st_mtime_ns == stamp


def test_a_finished_run_with_other_settings_is_refused(tmp_path):
    stale = tmp_path / "sgd" / ".tmp-0-12345"  # a run killed while it was being saved
    (stale / "final.pt").parent.mkdir(parents=True)
    (stale / "final.pt").write_bytes(b"torn")
    run_all(specs()[:1], tmp_path, progress=False)
    assert not stale.exists() and (tmp_path / "sgd/0/done.json").is_file()
    summary = read_summary(tmp_path / "sgd/0")
    assert summary["spec"]["epochs"] == 2 and json.loads(json.dumps(summary)) == summary
    with pytest.raises(ValueError, match=r"made with other settings \(epochs: stored 2, now 3\)"):
        run_all(specs(epochs=3)[:1], tmp_path, progress=False)
    with pytest.raises(ValueError, match="run keys must be unique; repeated: sgd/0"):
        run_all(specs()[:1] * 2, tmp_path, progress=False)
    with pytest.raises(ValueError, match="`threads` must be an integer ≥ 1"):
        Workers(1, threads=0)


def test_write_dataset_keeps_string_labels_without_warnings(tmp_path):
    import numpy as np
    import xarray as xr

    ds = xr.Dataset(
        {"x": (("set",), np.arange(2.0)), "name": (("set",), np.array(["a", "bb"]))},
        coords={"set": ["sgd-train", "lbfgs-gss-test"]},
    )
    write_dataset(ds, tmp_path / "d.zarr")  # filterwarnings=error: no zarr dtype warning
    back = xr.open_zarr(tmp_path / "d.zarr", consolidated=False).load()
    assert back.set.to_numpy().tolist() == ["sgd-train", "lbfgs-gss-test"]
    assert back.name.to_numpy().tolist() == ["a", "bb"]
    assert float(back.x.sel(set="lbfgs-gss-test")) == 1.0


def test_a_switched_run_is_redone_when_the_run_it_starts_from_was(tmp_path):
    """A run that starts from another run's trajectory records its fingerprint; once that run
    is redone (its folder deleted, other settings) the switched run is redone too."""
    import shutil

    common = {"model": "fcp", "data": "digits", "init_seed": 0, "seed": 0}

    def base(lr):
        return RunSpec(key="runs/sgd", optimizer="sgd", epochs=2, lr=lr, trajectory=True, **common)

    switched = RunSpec(
        key="switch/sgd-to-adam", optimizer="adam", epochs=1, init_from=("runs/sgd", 1), **common
    )
    run_all([base(0.05)], tmp_path, progress=False)
    first = run_all([switched], tmp_path, progress=False)[0]
    assert list(first["inputs"]) == ["runs/sgd/trajectory.pt"]
    assert run_all([switched], tmp_path, progress=False)[0] == first  # not redone
    shutil.rmtree(tmp_path / "runs" / "sgd")
    run_all([base(0.01)], tmp_path, progress=False)
    again = run_all([switched], tmp_path, progress=False)[0]
    assert again["inputs"] != first["inputs"]
    assert again["final_train_loss"] != first["final_train_loss"]
