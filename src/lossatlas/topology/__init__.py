"""Topological summaries of a sampled landscape (0-dimensional persistent homology).

- `merge_tree`: the sublevel-set merge tree on a grid of 1 to 8 dimensions
  (2N-neighbour connectivity): which minima merge at which loss, one
  persistence pair (birth, death) per minimum, steepest-descent basins;
  `MergeTree.num_basins(threshold)`, `.total_persistence(p)` (a scalar
  roughness), `.basin_labels(threshold)`, `.merges(threshold)`.
- `summary`: the tree of a landscape Dataset and a labelled Dataset of its
  pairs, basin labels and key numbers.
- `bottleneck_distance`: the exact bottleneck distance between two diagrams,
  to compare the landscapes of two models or optimizers.

The barcode, persistence diagram, merge tree and basin map are drawn by
`lossatlas.plot.topology`; `lossatlas topology` runs it all from the command
line.
"""

from lossatlas.topology.bottleneck import as_diagram, bottleneck_distance
from lossatlas.topology.mergetree import MergeTree, merge_tree
from lossatlas.topology.summary import default_threshold, pairs_table, summary

__all__ = [
    "MergeTree",
    "as_diagram",
    "bottleneck_distance",
    "default_threshold",
    "merge_tree",
    "pairs_table",
    "summary",
]
