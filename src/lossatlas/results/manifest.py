"""The record each command leaves in its output directory: `lossatlas.json`.

A run directory holds the outputs of any number of commands, each in its own
folder with one manifest (`lossatlas.json`; commands that share a folder, such
as the analyses of `lossatlas spectrum`, name theirs `lossatlas-<name>.json`).
The manifest says what ran (the command and every setting), what came out
(key numbers, small tables, the figures and arrays it wrote, relative to its
folder), how long it took and with which software.
`lossatlas report RUN_DIR` finds the analyses by these files alone, so any
command that writes one gets a report section.

The manifest is written last and atomically: its presence means the folder's
results are whole.

    with manifest.record(out, "surface", settings={"kind": "plane", ...}) as rec:
        ...                                   # the work
        rec.results["min_loss"] = 0.01        # key numbers
        rec.table("heights", rows)            # list of dicts, one per row
        rec.figure(out / "contour.png", "Loss on the plane")
        rec.array(out / "surface.zarr")
"""

from __future__ import annotations

import datetime as _dt
import platform
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from lossatlas.results.files import _jsonable, decode_nonfinite, write_json

MANIFEST = "lossatlas.json"
_MANIFEST_FILE = re.compile(r"lossatlas(-[A-Za-z0-9_.-]+)?\.json")


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the libraries results depend on."""
    import numpy
    import torch

    from lossatlas import __version__

    out = {
        "lossatlas": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    for name in ("scipy", "xarray", "zarr", "sklearn", "plotly"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            out[name] = module.__version__
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


@dataclass
class Record:
    """What a command fills in while it works; written by `record` when it ends well."""

    out: Path
    command: str
    settings: dict[str, Any]
    title: str | None = None
    name: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[dict[str, str]] = field(default_factory=list)
    arrays: list[str] = field(default_factory=list)
    inputs: dict[str, str | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def finish(self) -> Path:
        """Write the manifest now (the command ended well); total time since `begin`."""
        return write_manifest(self, started=self.started, seconds=self.elapsed())

    def elapsed(self) -> float:
        """Seconds since the record began."""
        return time.perf_counter() - self._start

    def _relative(self, path: str | PathLike) -> str:
        path = Path(path)
        try:
            return path.resolve().relative_to(self.out.resolve()).as_posix()
        except ValueError:
            return str(path)

    def figure(self, path: str | PathLike, caption: str = "") -> None:
        """A figure file: .png (static), .html (standalone page) or .json (plotly figure)."""
        self.figures.append({"path": self._relative(path), "caption": caption})

    def array(self, path: str | PathLike) -> None:
        """A labelled-array store (zarr) or tensor file the command wrote."""
        self.arrays.append(self._relative(path))

    def input(self, key: str, fingerprint: str | None) -> None:
        """A file the command read (a checkpoint of an earlier step) and its fingerprint.

        They land in the manifest's `inputs`; a rerun (the demo's `Demo._done`) compares
        them with the files as they are now and redoes the work when one differs, so
        results never mix old and new inputs.
        """
        self.inputs[key] = fingerprint

    def table(self, name: str, rows: list[dict[str, Any]]) -> None:
        """A small table of results, one dict per row (same keys in every row)."""
        self.tables[name] = [dict(r) for r in rows]

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time a stage of the command; the seconds land in `timings[name]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def record(
    out: str | PathLike,
    command: str,
    settings: dict[str, Any],
    *,
    title: str | None = None,
    name: str | None = None,
) -> Iterator[Record]:
    """Collect a command's results and write `out/lossatlas.json` when it ends without error.

    Args:
        name: for commands that share a folder: the manifest is then
            `lossatlas-<name>.json`.

    On an exception nothing is written (a manifest always describes whole results)
    and the exception propagates. A manifest left by an earlier run into the same
    folder stays until this one replaces it: a rerun refused for bad input leaves
    the folder exactly as it was. Should a rerun stop half way and rewrite some of
    the files an old manifest lists, `changed_since` names them (the report shows
    it).
    """
    rec = begin(out, command, settings, title=title, name=name)
    yield rec
    rec.finish()


def begin(
    out: str | PathLike,
    command: str,
    settings: dict[str, Any],
    *,
    title: str | None = None,
    name: str | None = None,
) -> Record:
    """Start a record without a `with` block; `rec.finish()` writes it when the work ended well.

    For commands whose body is already long: an error before `finish` leaves no manifest.
    """
    out = Path(out)
    return Record(out=out, command=command, settings=dict(settings), title=title, name=name)


def write_manifest(rec: Record, *, started: _dt.datetime, seconds: float) -> Path:
    """Write the record as `lossatlas.json` in its folder (atomically)."""
    body = {
        "command": rec.command,
        "title": rec.title or rec.command,
        "settings": _jsonable(rec.settings),
        "results": _jsonable(rec.results),
        "tables": _jsonable(rec.tables),
        "figures": rec.figures,
        "arrays": rec.arrays,
        **({"inputs": rec.inputs} if rec.inputs else {}),
        "timings": {"total": seconds, **rec.timings},
        "started": started.isoformat(timespec="seconds"),
        "versions": versions(),
    }
    return write_json(rec.out / manifest_name(rec.name), body, nonfinite="text")


def manifest_name(name: str | None = None) -> str:
    """`lossatlas.json`, or `lossatlas-<name>.json` for one of several in a folder."""
    if name is None:
        return MANIFEST
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"`name` must be letters, digits, '_', '.' or '-'; got {name!r}.")
    return f"lossatlas-{name}.json"


def _newest_mtime(path: Path) -> float:
    """The newest modification time of a file, or of anything inside a directory store."""
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.rglob("*")), default=path.stat().st_mtime)
    return path.stat().st_mtime


def changed_since(path: str | PathLike) -> list[str]:
    """The files a manifest lists (arrays and figures) modified after it was written.

    A manifest is written after everything it lists, so such files come from a later
    run into the same folder that did not finish: the record no longer describes them.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    written = path.stat().st_mtime
    body = read(path)
    listed = list(body.get("arrays") or []) + [f.get("path", "") for f in body.get("figures") or []]
    changed = []
    for name in listed:
        target = path.parent / name
        if name and target.exists() and _newest_mtime(target) > written:
            changed.append(name)
    return changed


def find(run_dir: str | PathLike) -> list[Path]:
    """Every manifest below `run_dir` (itself included), in a stable order."""
    root = Path(run_dir)
    found = [p for p in root.rglob("lossatlas*.json") if _MANIFEST_FILE.fullmatch(p.name)]
    return sorted(found, key=lambda p: (p.parent.relative_to(root).parts, p.name))


def read(path: str | PathLike) -> dict[str, Any]:
    """A manifest as a dict, with `folder` set to the directory that holds it."""
    import json

    path = Path(path)
    if path.is_dir():  # the folder's only (unnamed) manifest
        path = path / MANIFEST
    body = decode_nonfinite(json.loads(path.read_text()))
    body["folder"] = str(path.parent)
    return body
