"""Results on disk: a zarr store that fills in as work finishes and resumes after a kill.

A grid of P points is stored as flat arrays over a `point` dimension, chunked
exactly like the evaluation, plus a `done` mask per chunk. A chunk's values
are written before its `done` flag, and zarr's local store writes every chunk
file atomically (temporary file, then rename), so a kill at any moment leaves
either a finished chunk or one that is recomputed: never a torn one.

Each finished chunk also has a checksum (`chunk_digest`: SHA-256 of its values),
written between the values and the done flag. Opening a store to resume it
checks every done chunk against its checksum: a chunk file that was deleted,
truncated, overwritten or swapped with another is found, warned about
(`DamagedChunksWarning`) and recomputed, so lost data never turns into NaN or
a codec traceback. Reading a store (`open_store`) refuses a damaged one with
the chunks named (`StoreDamaged`).

The settings that made the results are the store's attributes. Opening an
existing store with other settings is refused with the differing settings
named, so a resumed run can never mix two experiments; the device they ran on
is recorded but not compared (`NOT_COMPARED`). A new store is built in
a temporary directory and renamed into place, so bad input never leaves a
half-made store behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr

from lossatlas.core import distributed

FORMAT = "lossatlas.grid/1"


class StoreMismatch(ValueError):
    """An existing store was made with other settings (`keys`: the top-level ones)."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()):
        super().__init__(message)
        self.keys = keys


class InputsChangedWarning(RuntimeWarning):
    """A derived store was made from other inputs and is being recomputed from the new ones."""


class StoreDamaged(ValueError):
    """A store's finished chunks no longer match their checksums (missing or damaged files)."""


class DamagedChunksWarning(RuntimeWarning):
    """Finished chunks of a store were found missing or damaged and will be recomputed."""


# The per-chunk checksum array and the done flags are bookkeeping, not results.
CHECKSUM = "checksum"
BOOKKEEPING = frozenset({"done", CHECKSUM})


def chunk_digest(values: dict[str, np.ndarray], variables: list[str]) -> int:
    """The checksum of one chunk: the first 8 bytes of SHA-256 over each variable's float64 values.

    The lowest bit is forced to 1 so that a digest is never 0, the fill value that means
    "no checksum written".
    """
    h = hashlib.sha256()
    for name in variables:
        h.update(np.ascontiguousarray(values[name], dtype=np.float64).tobytes())
    return int.from_bytes(h.digest()[:8], "little") | 1


def fingerprint(t: torch.Tensor) -> str:
    """A short SHA-256 of a tensor's values, to recognise the same direction again."""
    a = t.detach().cpu().contiguous().numpy()
    return hashlib.sha256(a.tobytes() + str(a.dtype).encode()).hexdigest()[:16]


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


# Where the work ran is recorded but not compared: results on another device agree to float
# tolerance, so a store begun on the CPU may be finished on a GPU (and a study resumed there).
NOT_COMPARED = frozenset({"device"})


def _differences(old: dict, new: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(top-level setting, message) for each setting that differs, nested dicts entry by entry."""
    out = []
    for key in sorted((set(old) | set(new)) - NOT_COMPARED):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((prefix.split(".")[0] or key, f"{prefix}{key}: stored {a!r}, now {b!r}"))
    return out


class GridStore:
    """A resumable store of per-point results.

    Args:
        path: directory of the zarr store.
        settings: JSON-able settings; must equal those of an existing store.
        variables: names of the float arrays (e.g. loss, accuracy, test_loss).
        num_points: P.
        chunk: points per chunk (the unit of work and of resumption).
        arrays: extra arrays written once at creation (directions, origin).
        replace_on: top-level settings that name inputs (fingerprints of solutions) of a
            derived store: when only these differ, the old store is removed and the work
            redone (`InputsChangedWarning`) instead of refused.
    """

    def __init__(
        self,
        path: str | PathLike,
        settings: dict[str, Any],
        variables: list[str],
        num_points: int,
        chunk: int,
        arrays: dict[str, np.ndarray] | None = None,
        replace_on: frozenset[str] | set[str] = frozenset(),
    ):
        if num_points < 1:
            raise ValueError(f"the grid must have at least one point; got {num_points}.")
        if chunk < 1:
            raise ValueError(f"`chunk` must be a positive integer; got {chunk}.")
        self.path = Path(path)
        self.settings = _normalised(settings)
        self.variables = list(variables)
        self.num_points, self.chunk = num_points, chunk
        self.num_chunks = -(-num_points // chunk)
        self._legacy = False
        existing = self.path.exists()
        if existing:
            try:
                self._group = self._open_existing()
            except StoreMismatch as err:
                if not err.keys or not set(err.keys) <= set(replace_on):
                    raise
                # derived data whose inputs changed (a study's barriers after a run was
                # redone): recomputed from the new inputs rather than mixed or refused
                warnings.warn(
                    f"the store at {str(self.path)!r} was made from other inputs "
                    f"({', '.join(err.keys)}); recomputing it.",
                    InputsChangedWarning,
                    stacklevel=3,
                )
                shutil.rmtree(self.path)
                existing = False
                self._group = self._create(arrays or {})
        else:
            self._group = self._create(arrays or {})
        # Opening an array reads its metadata from disk (~15 ms a chunk write when done per
        # write); the handles are opened once.
        self._arrays = {name: self._group[name] for name in [*self.variables, "done", CHECKSUM]}
        if existing:
            self._repair()

    def _open_existing(self) -> zarr.Group:
        try:
            group = zarr.open_group(self.path, mode="r+")
            stored = dict(group.attrs)
        except Exception as err:  # not a zarr store, or an unreadable one
            raise StoreMismatch(
                f"{str(self.path)!r} exists but is not a lossatlas store ({err}); "
                "choose another output directory or remove it."
            ) from err
        if stored.get("format") != FORMAT:
            raise StoreMismatch(
                f"{str(self.path)!r} is not a lossatlas grid store; choose another output "
                "directory or remove it."
            )
        old = stored.get("settings", {})
        found = _differences(old, self.settings)
        diffs = [message for _, message in found]
        keys = tuple(sorted({key for key, _ in found}))
        if list(stored.get("variables", [])) != self.variables:  # from an older lossatlas
            diffs.append(f"variables: stored {stored.get('variables')!r}, now {self.variables!r}")
            keys += ("variables",)
        if diffs:
            raise StoreMismatch(
                f"the store at {str(self.path)!r} was made with other settings:\n  "
                + "\n  ".join(diffs)
                + "\nUse the same settings to resume it, or another output directory "
                "for a new run.",
                keys,
            )
        # A store written before checksums existed gets them from its chunks as they read now
        # (only once it is known to be resumed: a refused store is left as it was).
        self._legacy = CHECKSUM not in set(group.array_keys())
        if self._legacy:
            _create_checksums(group, self.num_chunks)
            consolidate(self.path)
            group = zarr.open_group(self.path, mode="r+")  # with the new array's metadata
        return group

    def _create(self, arrays: dict[str, np.ndarray]) -> zarr.Group:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.path.parent))
        try:
            group = zarr.open_group(tmp, mode="w")
            for name in self.variables:
                a = group.create_array(
                    name,
                    shape=(self.num_points,),
                    chunks=(self.chunk,),
                    dtype="float64",
                    fill_value=np.nan,
                    dimension_names=["point"],
                )
                a.attrs["role"] = "result"
            group.create_array(
                "done",
                shape=(self.num_chunks,),
                chunks=(1,),
                dtype="bool",
                fill_value=False,
                dimension_names=["chunk"],
            )
            _create_checksums(group, self.num_chunks)
            for name, value in arrays.items():
                value = np.asarray(value)
                group.create_array(
                    name, data=value, dimension_names=[f"{name}_dim_{i}" for i in range(value.ndim)]
                )
            group.attrs.update(
                {
                    "format": FORMAT,
                    "settings": self.settings,
                    "variables": self.variables,
                    "num_points": self.num_points,
                    "chunk": self.chunk,
                }
            )
            consolidate(tmp)
            tmp.replace(self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return zarr.open_group(self.path, mode="r+")

    # -- work ---------------------------------------------------------------------

    def pending(self) -> list[int]:
        """Indices of the chunks not yet done."""
        done = self._arrays["done"][:]
        return [int(i) for i in np.flatnonzero(~done)]

    def span(self, index: int) -> slice:
        """The flat point indices of chunk `index`."""
        start = index * self.chunk
        return slice(start, min(start + self.chunk, self.num_points))

    def write(self, index: int, values: dict[str, np.ndarray]) -> None:
        """Store one finished chunk: its values first, then its checksum, then its done flag."""
        where = self.span(index)
        values = {name: np.asarray(values[name], dtype=np.float64) for name in self.variables}
        for name in self.variables:
            self._arrays[name][where] = values[name]
        self._arrays[CHECKSUM][index] = chunk_digest(values, self.variables)
        self._arrays["done"][index] = True

    def read(self) -> dict[str, np.ndarray]:
        """Every result array ([P], NaN where not done) and every extra array."""
        return {
            name: self._group[name][:]
            for name in self._group.array_keys()
            if name not in BOOKKEEPING
        }

    def _repair(self) -> None:
        """Find done chunks whose files are missing or damaged, warn, and mark them to redo.

        A damaged chunk's files are removed as well, so that zarr does not try to decode
        them again; the chunk is then pending and the caller recomputes it like any other.
        """
        bad = _damaged(self._group, self.variables, self.chunk, self.num_points, adopt=self._legacy)
        if not bad:
            return
        # Removing the files (rather than rewriting flags) also clears a done flag or a
        # checksum that could not be decoded; the fill values read back as "not done".
        for index in bad:
            for name in [*self.variables, CHECKSUM, "done"]:
                (self.path / name / "c" / str(index)).unlink(missing_ok=True)
        warnings.warn(
            f"the store at {str(self.path)!r} had {len(bad)} finished chunk(s) missing or "
            f"damaged ({_listed(bad)}); recomputing them.",
            DamagedChunksWarning,
            stacklevel=3,
        )

    @property
    def complete(self) -> bool:
        """Whether every chunk has been written."""
        return bool(self._arrays["done"][:].all())

    @property
    def attrs(self) -> dict[str, Any]:
        """The store's attributes (settings, fingerprints)."""
        return dict(self._group.attrs)

    def set_attrs(self, **attrs: Any) -> None:
        """Add or replace attributes, JSON-normalised."""
        self._group.attrs.update(_normalised(attrs))
        consolidate(self.path)


class MemoryStore:
    """The `GridStore` interface without a disk, for calls with no `store=`."""

    def __init__(
        self,
        variables: list[str],
        num_points: int,
        chunk: int,
        arrays: dict[str, np.ndarray] | None = None,
    ):
        self.variables, self.num_points, self.chunk = variables, num_points, chunk
        self.num_chunks = -(-num_points // chunk)
        self._data = {v: np.full(num_points, np.nan) for v in variables} | dict(arrays or {})
        self._done = np.zeros(self.num_chunks, dtype=bool)

    def pending(self) -> list[int]:
        """The chunks not yet written."""
        return [int(i) for i in np.flatnonzero(~self._done)]

    def span(self, index: int) -> slice:
        """The flat point indices of chunk `index`."""
        return slice(index * self.chunk, min((index + 1) * self.chunk, self.num_points))

    def write(self, index: int, values: dict[str, np.ndarray]) -> None:
        """Store the values of chunk `index` and mark it done."""
        for v in self.variables:
            self._data[v][self.span(index)] = values[v]
        self._done[index] = True

    def read(self) -> dict[str, np.ndarray]:
        """Every variable's values over all points."""
        return dict(self._data)


class SharedStore:
    """A store that every process of a distributed run works on (`lossatlas.core.distributed`).

    With `split`, each process computes its share of the pending chunks
    (ranks r, r + N, … of the list) and writes them itself; without, every
    process computes every chunk (a data-parallel objective needs all of them
    in lockstep) and only rank 0 writes to disk. `read` waits for every
    process, so it returns the whole result everywhere.
    """

    def __init__(self, inner: GridStore | MemoryStore, split: bool):
        self.inner, self.split = inner, split
        self._pending = inner.pending()
        self._mine: list[int] = []
        distributed.barrier()  # nobody writes before everyone has read what is pending

    def pending(self) -> list[int]:
        """This process's share of the pending chunks (all of them when not split)."""
        if not self.split:
            return list(self._pending)
        return self._pending[distributed.rank() :: distributed.world_size()]

    def write(self, index: int, values: dict[str, np.ndarray]) -> None:
        """Write chunk `index` where this process is responsible for it."""
        if self.split or distributed.is_main() or isinstance(self.inner, MemoryStore):
            self.inner.write(index, values)
            self._mine.append(index)

    def read(self) -> dict[str, np.ndarray]:
        """Every variable over all points, gathered from every process."""
        distributed.barrier()
        if self.split and isinstance(self.inner, MemoryStore):
            mine = {
                i: {v: self.inner._data[v][self.inner.span(i)] for v in self.inner.variables}
                for i in self._mine
            }
            for part in distributed.all_gather_objects(mine):
                for index, values in part.items():
                    self.inner.write(index, values)
        return self.inner.read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def consolidate(path: str | PathLike) -> None:
    """Write the store's consolidated metadata, so `xarray.open_zarr` opens it without a warning.

    Only the metadata is consolidated (array shapes, attributes), never the chunks, so it
    stays true while chunks are written. zarr warns that consolidation is not yet part of
    the v3 specification: that concerns other implementations, not these stores.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(Path(path))


def grid_store(
    path: str | PathLike | None,
    settings: dict[str, Any],
    variables: list[str],
    num_points: int,
    chunk: int,
    arrays: dict[str, np.ndarray] | None = None,
    *,
    split: bool = False,
    replace_on: frozenset[str] | set[str] = frozenset(),
) -> GridStore | MemoryStore | SharedStore:
    """A resumable `GridStore` at `path`, or a `MemoryStore` when `path` is None.

    Under `torch.distributed` (several processes) rank 0 creates the store
    before the others open it, and the store is shared (`SharedStore`): with
    `split` the processes divide the pending chunks between them, else they
    all compute every chunk and rank 0 writes.
    """
    if path is None:
        store: GridStore | MemoryStore = MemoryStore(variables, num_points, chunk, arrays)
    else:
        store = distributed.main_first(
            lambda: GridStore(path, settings, variables, num_points, chunk, arrays, replace_on)
        )
    return SharedStore(store, split) if distributed.is_active() else store


def _create_checksums(group: zarr.Group, num_chunks: int) -> None:
    group.create_array(
        CHECKSUM,
        shape=(num_chunks,),
        chunks=(1,),
        dtype="uint64",
        fill_value=0,
        dimension_names=["chunk"],
    )


def _listed(indices: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return f"chunk{'s' if len(indices) > 1 else ''} {shown}{more}"


def _read_by_chunk(array: zarr.Array, spans: list[slice]) -> list[np.ndarray | None]:
    """The array's values chunk by chunk, None where a chunk cannot be decoded."""
    try:
        whole = array[:]
        return [whole[s] for s in spans]
    except Exception:  # a truncated or garbled chunk file: find which one
        parts: list[np.ndarray | None] = []
        for s in spans:
            try:
                parts.append(array[s])
            except Exception:
                parts.append(None)
        return parts


def _damaged(
    group: zarr.Group, variables: list[str], chunk: int, num_points: int, *, adopt: bool = False
) -> list[int]:
    """The done chunks whose values no longer match their checksums (or cannot be read).

    With `adopt` (a store written before checksums existed, opened to resume) a done chunk
    without a checksum is given one from its values as they read now, since nothing older
    exists to compare against; otherwise a done chunk without one has lost its checksum
    file and cannot be trusted.
    """
    num_chunks = -(-num_points // chunk)
    one_each = [slice(i, i + 1) for i in range(num_chunks)]
    flags = _read_by_chunk(group["done"], one_each)
    sums = _read_by_chunk(group[CHECKSUM], one_each)
    spans = [slice(i * chunk, min((i + 1) * chunk, num_points)) for i in range(num_chunks)]
    columns = {name: _read_by_chunk(group[name], spans) for name in variables}
    bad, fresh = [], {}
    for i in range(num_chunks):
        if flags[i] is None:  # an unreadable done flag: the chunk cannot be trusted as done
            bad.append(i)
            continue
        if not bool(flags[i][0]):
            continue
        parts = {name: columns[name][i] for name in variables}
        if any(p is None for p in parts.values()) or sums[i] is None:
            bad.append(i)
            continue
        digest = chunk_digest(parts, variables)  # type: ignore[arg-type]
        stored = int(sums[i][0])
        if stored == 0 and adopt:
            fresh[i] = digest
        elif stored != digest:
            bad.append(i)
    for i, digest in fresh.items():
        group[CHECKSUM][i] = digest
    return bad


def damaged_chunks(path: str | PathLike) -> list[int]:
    """The finished chunks of the store at `path` whose files are missing or damaged.

    Empty for a sound store (and for a store that is not a lossatlas grid store).
    """
    try:
        group = zarr.open_group(Path(path), mode="r")
        attrs = dict(group.attrs)
    except Exception:
        return []
    if attrs.get("format") != FORMAT or CHECKSUM not in set(group.array_keys()):
        return []
    return _damaged(group, list(attrs["variables"]), int(attrs["chunk"]), int(attrs["num_points"]))


def open_store(path: str | PathLike) -> zarr.Group:
    """Open a finished or partial store for reading.

    Raises:
        StoreDamaged: finished chunks are missing or damaged; rerunning the command that
            made the store (same settings, same output) recomputes them.
    """
    bad = damaged_chunks(path)
    if bad:
        raise StoreDamaged(
            f"the store at {str(path)!r} has {len(bad)} finished chunk(s) missing or damaged "
            f"({_listed(bad)}); rerun the command that made it (same settings and --out) "
            "to recompute them."
        )
    return zarr.open_group(Path(path), mode="r")
