"""Atomic writes: a result file is either absent or whole, never half written.

Every writer builds its file (or directory) beside the destination under a
temporary name and renames it into place; a rename within one directory is
atomic, so a process killed at any moment (SIGKILL, a wall-time limit) leaves
either the old file, the new one, or none, plus at worst a `.tmp-*` leftover
that nothing reads. Files are flushed to disk before the rename, so a power
cut does not turn a renamed file into an empty one either.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import xarray as xr


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):  # torch tensors
        return value.tolist()
    return value


def _map_nonfinite(value: Any, replace: Callable[[float], Any]) -> Any:
    """`value` (JSON-able) with every NaN and ±inf float replaced by `replace(x)`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else replace(value)
    if isinstance(value, dict):
        return {k: _map_nonfinite(v, replace) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_nonfinite(v, replace) for v in value]
    return value


def strict(value: Any) -> Any:
    """`value` (JSON-able) with every NaN and ±inf replaced by None, for strict JSON."""
    return _map_nonfinite(value, lambda x: None)


def _spelled(value: Any) -> Any:
    """`value` with NaN and ±inf as the strings of `NONFINITE_TEXT`."""
    return _map_nonfinite(
        value, lambda x: "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    )


def decode_nonfinite(value: Any) -> Any:
    """`value` read from JSON with "NaN", "Infinity", "-Infinity" strings back as floats."""
    if isinstance(value, str):
        return NONFINITE_TEXT.get(value, value)
    if isinstance(value, dict):
        return {k: decode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_nonfinite(v) for v in value]
    return value


def write_atomic(path: str | PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(file)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: How `write_json(..., nonfinite="text")` spells NaN and ±inf, and `decode_nonfinite` reads them.
NONFINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def write_json(
    path: str | PathLike, value: Any, *, sort_keys: bool = False, nonfinite: str = "null"
) -> Path:
    """Write strict JSON to a temporary file beside `path`, then rename it into place.

    NaN and ±inf are not JSON (a browser's `JSON.parse`, `jq` and most readers
    refuse them). With `nonfinite="null"` (data files) they are written as null:
    a reader sees "no finite value" and never a parse error. With "text"
    (manifests, whose report shows ∞ apart from NaN) they are the strings
    "NaN", "Infinity", "-Infinity", which `decode_nonfinite` turns back.
    """
    plain = _jsonable(value)
    body = strict(plain) if nonfinite == "null" else _spelled(plain)
    text = json.dumps(body, indent=2, default=str, sort_keys=sort_keys, allow_nan=False)
    return write_atomic(path, lambda f: f.write(text.encode()))


def save_torch(value: Any, path: str | PathLike) -> Path:
    """`torch.save(value, path)`, atomically (tensors, state_dicts, eigenvectors)."""
    import torch

    return write_atomic(path, lambda f: torch.save(value, f))


def write_text(path: str | PathLike, text: str) -> Path:
    """Write text (UTF-8) to a temporary file beside `path`, then rename it into place."""
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width unicode arrays as Python strings: zarr v3 stores those with a specified
    variable-length string type (fixed-width ones warn that they have no specification)."""
    for name in list(ds.variables):
        if ds[name].dtype.kind != "U":
            continue
        if name in ds.coords:
            ds = ds.assign_coords({name: ds[name].astype(object)})
        else:
            ds[name] = ds[name].astype(object)
    return ds


def write_dataset(ds: xr.Dataset | xr.DataArray, path: str | PathLike) -> Path:
    """Write an xarray object as a zarr store, built in a temporary directory and renamed.

    Attributes that zarr cannot hold (arrays, nested objects) are written as JSON-able lists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = ds.to_dataset() if isinstance(ds, xr.DataArray) else ds
    ds = _variable_length_strings(ds.copy())
    ds.attrs = _jsonable(ds.attrs)
    for v in ds.variables.values():
        v.attrs = _jsonable(v.attrs)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
    try:
        ds.to_zarr(tmp / "store", mode="w", consolidated=False)
        if path.exists():
            # moved aside in one rename, not deleted in place: a kill during a slow
            # deletion would leave a torn store at `path`
            path.replace(tmp / "old")
        (tmp / "store").replace(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def file_fingerprint(path: str | PathLike) -> str | None:
    """A short SHA-256 of a file's bytes (None when the file is absent).

    What a step records of the files it read (checkpoints, trajectories), so that a
    rerun can tell whether its inputs are still the ones it was computed from.
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
