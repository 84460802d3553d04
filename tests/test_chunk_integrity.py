"""Finished chunks carry checksums: a lost, truncated or swapped chunk is recomputed, not NaN."""

import warnings

import numpy as np
import pytest
import torch

from conftest import make_case
from lossatlas import Objective, surface
from lossatlas.results.store import (
    CHECKSUM,
    DamagedChunksWarning,
    StoreDamaged,
    consolidate,
    damaged_chunks,
    open_store,
)


def _plane(store):
    case = make_case("mlp")
    obj = Objective(case.model, case.data, loss=case.loss, dtype=torch.float64)
    return surface.random_plane(
        obj, obj.point(), grid=(5, 4), chunk=3, seed=0, store=store, progress=False
    )


@pytest.fixture
def finished(tmp_path):
    store = tmp_path / "surface.zarr"
    ds = _plane(store)
    assert damaged_chunks(store) == []
    return store, ds


def _chunk(store, index, name="loss"):
    return store / name / "c" / str(index)


def _resumed_equals(store, expected, damaged):
    assert damaged_chunks(store) == damaged
    with pytest.raises(StoreDamaged, match=r"chunks? .*rerun the command that made it"):
        surface.load(store)
    with pytest.warns(DamagedChunksWarning, match="recomputing them"):
        again = _plane(store)
    np.testing.assert_array_equal(again["loss"].values, expected["loss"].values)
    assert np.isfinite(again["loss"].values).all()
    assert damaged_chunks(store) == []
    np.testing.assert_array_equal(surface.load(store)["loss"].values, expected["loss"].values)


def test_a_deleted_chunk_is_recomputed_not_nan(finished):
    store, ds = finished
    _chunk(store, 2).unlink()
    _resumed_equals(store, ds, [2])


def test_a_truncated_chunk_is_recomputed_not_a_codec_traceback(finished):
    store, ds = finished
    path = _chunk(store, 1)
    path.write_bytes(path.read_bytes()[:7])
    _resumed_equals(store, ds, [1])


def test_swapped_chunk_files_are_both_recomputed(finished):
    store, ds = finished
    a, b = _chunk(store, 0).read_bytes(), _chunk(store, 3).read_bytes()
    _chunk(store, 0).write_bytes(b)
    _chunk(store, 3).write_bytes(a)
    _resumed_equals(store, ds, [0, 3])


def test_a_lost_checksum_or_done_flag_is_not_trusted(finished):
    store, ds = finished
    _chunk(store, 4, CHECKSUM).unlink()
    done = _chunk(store, 5, "done")
    done.write_bytes(done.read_bytes()[:3])
    _resumed_equals(store, ds, [4, 5])


def test_a_store_without_checksums_adopts_them_on_resume(finished):
    """Stores written before checksums existed resume as they are and are checked from then on."""
    import shutil

    store, ds = finished
    shutil.rmtree(store / CHECKSUM)
    consolidate(store)
    group = open_store(store)  # nothing to check yet: readable as before
    assert CHECKSUM not in set(group.array_keys())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedChunksWarning)
        again = _plane(store)
    np.testing.assert_array_equal(again["loss"].values, ds["loss"].values)
    assert (open_store(store)[CHECKSUM][:] != 0).all()
    _chunk(store, 1).unlink()
    assert damaged_chunks(store) == [1]


def test_the_report_flags_a_damaged_store(tmp_path):
    from typer.testing import CliRunner

    from lossatlas.cli import app

    out = tmp_path / "plane"
    args = ["surface", "--kind", "plane", "--model", "mlp", "--data", "digits"]
    args += ["--model-arg", "widths=64,4,10", "--grid", "5", "--out", str(out)]
    runner = CliRunner()
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text() if (out / "report.html").exists() else ""
    assert "missing or damaged" not in html
    (out / "surface.zarr" / "loss" / "c" / "0").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "surface.zarr" in html and "missing or damaged" in html
    assert "Rerun its command" in html
