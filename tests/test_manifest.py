"""The per-command manifest: written whole on success, never on failure, found by `find`."""

import json
import os

import pytest

from lossatlas.results import manifest


def test_record_writes_results_figures_and_versions(tmp_path):
    out = tmp_path / "run" / "surface"
    out.mkdir(parents=True)
    (out / "contour.png").write_bytes(b"png")
    with manifest.record(out, "surface", {"kind": "plane", "grid": 5}, title="A plane") as rec:
        with rec.timed("evaluate"):
            rec.results["min_loss"] = 0.25
        rec.table("points", [{"alpha": 0.0, "loss": 1.0}, {"alpha": 1.0, "loss": 2.0}])
        rec.figure(out / "contour.png", "contour")
        rec.array(out / "surface.zarr")
    body = json.loads((out / manifest.MANIFEST).read_text())
    assert body["command"] == "surface" and body["title"] == "A plane"
    assert body["settings"] == {"kind": "plane", "grid": 5}
    assert body["results"] == {"min_loss": 0.25}
    assert body["tables"]["points"][1] == {"alpha": 1.0, "loss": 2.0}
    assert body["figures"] == [{"path": "contour.png", "caption": "contour"}]
    assert body["arrays"] == ["surface.zarr"]
    assert body["timings"]["total"] >= body["timings"]["evaluate"] >= 0
    assert body["versions"]["torch"] and body["versions"]["lossatlas"]
    assert manifest.find(tmp_path) == [out / manifest.MANIFEST]
    assert manifest.read(out)["folder"] == str(out)


def test_nothing_is_written_when_the_command_fails(tmp_path):
    with manifest.record(tmp_path, "path", {}):
        pass  # an earlier, finished run into the same folder
    before = (tmp_path / manifest.MANIFEST).read_bytes()
    with pytest.raises(RuntimeError), manifest.record(tmp_path, "path", {}) as rec:
        rec.results["height"] = 1.0
        raise RuntimeError("diverged")
    assert (tmp_path / manifest.MANIFEST).read_bytes() == before  # the finished run's record
    with pytest.raises(RuntimeError), manifest.record(tmp_path / "new", "path", {}):
        raise RuntimeError("diverged")
    assert manifest.find(tmp_path / "new") == []


def test_files_rewritten_after_the_record_are_named(tmp_path):
    store = tmp_path / "surface.zarr"
    (store / "loss").mkdir(parents=True)
    (store / "loss" / "c0").write_bytes(b"0")
    (tmp_path / "contour.png").write_bytes(b"png")
    with manifest.record(tmp_path, "surface", {}) as rec:
        rec.array(store)
        rec.figure(tmp_path / "contour.png")
    assert manifest.changed_since(tmp_path) == []
    later = (tmp_path / manifest.MANIFEST).stat().st_mtime + 5
    os.utime(store / "loss" / "c0", (later, later))  # a later run that stopped half way
    assert manifest.changed_since(tmp_path) == ["surface.zarr"]


def test_named_manifests_share_a_folder(tmp_path):
    for name in ("eigen", "trace"):
        with manifest.record(tmp_path, f"spectrum {name}", {}, name=name):
            pass
    (tmp_path / "lossatlas-notes.txt").write_text("not a manifest")
    found = manifest.find(tmp_path)
    assert [p.name for p in found] == ["lossatlas-eigen.json", "lossatlas-trace.json"]
    assert manifest.read(found[1])["command"] == "spectrum trace"
    with pytest.raises(ValueError, match="`name` must be letters"):
        manifest.manifest_name("a/b")
