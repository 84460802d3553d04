"""The papers' experiments, end to end: one function and one CLI command per study.

- `optimizers`: the optimizer-strategies paper whole: R runs each of SGD and
  L-BFGS-GSS, the best S kept, Table 1, path heights within each set
  (Fig. 4), distances to centroids (Fig. 5), RBF kernel PCA against linear
  PCA (Fig. 6). Module `topography`.
- `solutions`: Im, Tao, Branson (2016) (catalogue §5.1): SGD, Adam,
  L-BFGS-GSS and RK2 from one initialisation; planes, triangles and quads
  through their solutions; their functional difference; optimizer switches
  during training; with and without batch normalisation; basin size along
  θ → αθ. Module `comparisons`.
- `asymmetry`: He, Huang, Yuan (2019) (catalogue §5.7): profiles along
  random directions, asymmetry scores and the (r, p, c, ζ)-asymmetric
  direction test; stochastic weight averaging's displacement towards the
  flat side. Module `valleys`.

Each study writes its arrays (zarr), figures (PNG and plotly JSON), a summary
table and a `lossatlas.json` manifest into its folder, and resumes after a
kill without redoing finished runs (`runner`).
"""

from lossatlas.studies.common import StudyResult
from lossatlas.studies.comparisons import solutions
from lossatlas.studies.pool import Workers, parallel_map
from lossatlas.studies.runner import RunSpec, run_all
from lossatlas.studies.topography import optimizers
from lossatlas.studies.valley_study import asymmetry

__all__ = [
    "RunSpec",
    "StudyResult",
    "Workers",
    "asymmetry",
    "optimizers",
    "parallel_map",
    "run_all",
    "solutions",
]
