"""Results on disk: written atomically, resumable, and recorded with what made them.

- `files`: atomic writes (temporary file, fsync, rename) of JSON, text,
  tensors and labelled arrays (`write_dataset`);
- `store`: the resumable zarr stores surfaces and landscapes fill chunk by
  chunk, keyed by a fingerprint of their settings, with a checksum per chunk
  (`damaged_chunks`) so that lost or damaged chunks are recomputed;
- `manifest`: the record beside every result (command, settings, versions,
  input fingerprints, outputs);
- `checkpoint`: `save_checkpoint`, a plain state_dict beside its settings;
- `inputs`: what a user points a command at (models, data, checkpoints by
  name or path), resolved.
"""

from lossatlas.results.checkpoint import save_checkpoint
from lossatlas.results.files import write_dataset, write_json
from lossatlas.results.store import (
    DamagedChunksWarning,
    StoreDamaged,
    StoreMismatch,
    damaged_chunks,
    fingerprint,
    open_store,
)

__all__ = [
    "DamagedChunksWarning",
    "StoreDamaged",
    "StoreMismatch",
    "damaged_chunks",
    "fingerprint",
    "open_store",
    "save_checkpoint",
    "write_dataset",
    "write_json",
]
