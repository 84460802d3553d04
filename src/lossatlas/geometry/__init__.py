"""The geometry of minima: symmetry, the manifold of global minima, XOR, FDC, patterns.

- Symmetry (Chen, Lu & Hecht-Nielsen 1993): `SymmetryGroup` of an MLP
  (interchanges, sign flips, ReLU rescalings), its order #G, `throng`;
  `canonicalise` into the wedge (eq. 3) or the cone (eq. 4), `in_region`.
- Overparameterisation (Cooper 2018): `jacobian_rank` of the residuals,
  `hessian_inertia`, the Lemma 3.3 `constructive_network`, `minimum_manifold`
  (Prop. 2.3) and `walk_minima` along M = L⁻¹(0).
- XOR (Hamey 1998): `find_stationary_point`, `descent_certificate` (a
  non-ascending trajectory to lower loss), `xor_analysis`.
- Fitness–distance correlation (Gallagher 2000): `fdc`,
  `fitness_distance_correlation` (eq. 9), `sampling_statistics`.
- Patterns (Skorokhodov & Burtsev 2019; Czarnecki et al. 2020):
  `fit_pattern`, `load_pattern`.
"""

from lossatlas.geometry.canonical import Canonical, canonicalise, in_region
from lossatlas.geometry.certificate import Certificate, descent_certificate, verify_non_ascending
from lossatlas.geometry.constructive import ConstructiveNetwork, constructive_network
from lossatlas.geometry.fdc import fdc, fitness_distance_correlation, sampling_statistics
from lossatlas.geometry.layout import MLPLayout, mlp_layout
from lossatlas.geometry.manifold import ManifoldWalkError, walk_minima
from lossatlas.geometry.overparam import (
    Inertia,
    JacobianRank,
    MinimumManifold,
    hessian_inertia,
    jacobian_rank,
    minimum_manifold,
    residual_jacobian,
)
from lossatlas.geometry.patterns import PatternFit, fit_pattern, load_pattern, pattern_names
from lossatlas.geometry.stationary import StationaryPoint, find_stationary_point
from lossatlas.geometry.symmetry import GroupElement, SymmetryGroup
from lossatlas.geometry.xor import XorAnalysis, xor_analysis, xor_objective

__all__ = [
    "Canonical",
    "Certificate",
    "ConstructiveNetwork",
    "GroupElement",
    "Inertia",
    "JacobianRank",
    "MLPLayout",
    "ManifoldWalkError",
    "MinimumManifold",
    "PatternFit",
    "StationaryPoint",
    "SymmetryGroup",
    "XorAnalysis",
    "canonicalise",
    "constructive_network",
    "descent_certificate",
    "fdc",
    "find_stationary_point",
    "fit_pattern",
    "fitness_distance_correlation",
    "hessian_inertia",
    "in_region",
    "jacobian_rank",
    "load_pattern",
    "minimum_manifold",
    "mlp_layout",
    "pattern_names",
    "residual_jacobian",
    "sampling_statistics",
    "verify_non_ascending",
    "walk_minima",
    "xor_analysis",
    "xor_objective",
]
