"""Statistics of sets of solutions: distances to centroids, kernel and linear PCA.

The optimizer-strategies paper compares the sets of weight vectors SGD and
L-BFGS-GSS find:

- §III.3, Fig. 5: the distance of every solution to its set's centroid
  c = (1/S) Σ_s θ_s, and to a common origin ½(c_SGD + c_BFGS), with the
  centroids' separation ‖c_SGD − c_BFGS‖ for scale;
- §II.4, §III.4, Fig. 6: kernel PCA with the RBF kernel
  k(x, y) = exp(−γ‖x − y‖²) of the pooled solutions. The kernel matrix is
  centred, K̃ = K − 1K − K1 + 1K1 (1 the matrix of 1/N), its eigenpairs
  K̃a_k = λ_k a_k found, and point i projects to √λ_k·(a_k)_i on component k
  (Schölkopf et al. 1998). The paper sees the two optimizers separate along
  the first component with this kernel and not with linear PCA, which is
  drawn beside it.

The paper's value of γ is lost from its text. Here γ defaults to the median
heuristic γ = 1/median_{i<j}‖θ_i − θ_j‖², so that a typical pair has kernel
value e^{−1} whatever the scale of the weights (with scikit-learn's default
1/n, the kernel of networks with thousands of weights is nearly linear); the
value used is always returned and recorded.

Both projections are deterministic: dense eigen-solvers and a sign
convention (each component's largest-magnitude coordinate is positive).
"""

from __future__ import annotations

import numpy as np


def _matrix(points: np.ndarray, what: str = "points") -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"`{what}` must be a [k, n] array of k ≥ 1 solutions; got {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"`{what}` has non-finite entries; check the solutions.")
    return x


def centroid_distances(points: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
    """‖θ_s − o‖ for every row θ_s of `points` [k, n]; o is their centroid by default."""
    x = _matrix(points)
    o = x.mean(axis=0) if origin is None else np.asarray(origin, dtype=np.float64)
    return np.linalg.norm(x - o, axis=1)


def squared_distances(points: np.ndarray) -> np.ndarray:
    """[k, k] ‖θ_i − θ_j‖², from Gram matrices (exact to rounding, clipped at 0)."""
    x = _matrix(points)
    sq = (x * x).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d, 0.0)
    return np.maximum(d, 0.0)


def median_gamma(points: np.ndarray) -> float:
    """γ = 1/median_{i<j}‖θ_i − θ_j‖², the RBF width of `kernel_pca` by default.

    Raises:
        ValueError: fewer than two distinct solutions.
    """
    d = squared_distances(points)
    upper = d[np.triu_indices(len(d), 1)]
    med = float(np.median(upper)) if upper.size else 0.0
    if not med > 0:
        raise ValueError(
            "kernel PCA needs at least two distinct solutions to set the RBF width; "
            "give more solutions or an explicit `gamma`."
        )
    return 1.0 / med


def _fix_signs(coords: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive."""
    idx = np.abs(coords).argmax(axis=0)
    signs = np.sign(coords[idx, np.arange(coords.shape[1])])
    signs[signs == 0] = 1.0
    return coords * signs


def kernel_pca(
    points: np.ndarray,
    components: int = 2,
    *,
    gamma: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Kernel PCA of the rows of `points` with the RBF kernel (paper §II.4).

    Args:
        points: [k, n] solutions (pooled sets).
        components: how many principal components to return.
        gamma: γ of k(x, y) = exp(−γ‖x − y‖²); None: `median_gamma`.
        seed: random state handed to scikit-learn (the dense solver draws nothing).

    Returns:
        (coordinates [k, components] = √λ_k·a_k, the γ used, the eigenvalues
        λ_k of the centred kernel matrix K̃ [components]).

    Raises:
        ValueError: a bad shape, non-finite entries, too few solutions or γ ≤ 0.
    """
    from sklearn.decomposition import KernelPCA

    x = _matrix(points)
    if not (isinstance(components, int) and 1 <= components <= len(x)):
        raise ValueError(
            f"`components` must be an integer from 1 to the number of solutions ({len(x)}); "
            f"got {components!r}."
        )
    g = median_gamma(x) if gamma is None else float(gamma)
    if not (np.isfinite(g) and g > 0):
        raise ValueError(f"`gamma` must be a positive number; got {gamma!r}.")
    # Kernel PCA depends on the points only through their distances: subtracting the mean
    # first changes nothing exactly and keeps the Gram matrices well scaled.
    x = x - x.mean(axis=0)
    kpca = KernelPCA(components, kernel="rbf", gamma=g, eigen_solver="dense", random_state=seed)
    coords = kpca.fit_transform(x)
    return _fix_signs(coords), g, np.asarray(kpca.eigenvalues_, dtype=np.float64)


def linear_pca(points: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Linear PCA of the rows of `points` [k, n]: (coordinates [k, components],
    explained-variance ratios [components]), from the SVD of the centred matrix."""
    x = _matrix(points)
    if not (isinstance(components, int) and 1 <= components <= min(x.shape)):
        raise ValueError(
            f"`components` must be an integer from 1 to {min(x.shape)}; got {components!r}."
        )
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    total = float((s**2).sum())
    ratio = (s[:components] ** 2) / total if total > 0 else np.zeros(components)
    return _fix_signs(u[:, :components] * s[:components]), ratio
