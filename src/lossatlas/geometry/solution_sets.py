"""Sets of solutions side by side: kernel PCA with linear PCA beside it.

The optimizer-strategies paper (§II.4, §III.4, Fig. 6) maps the weight vectors
found by SGD and by L-BFGS-GSS to the first two kernel principal components
with an RBF kernel (Schölkopf, Smola, Müller 1998): the sets separate along
the first component with the RBF kernel and not with linear PCA, so the
separation is radial. `kernel_pca` returns both maps and each solution's
norm and distance to its set's centroid (the paper's Fig. 5).

For k solutions θ_1..θ_k (rows of X):

    K_ij = exp(−γ‖θ_i − θ_j‖²),   K̃ = H K H with H = I − 11ᵀ/k,
    K̃ a_l = λ_l a_l,   coordinate of θ_i on component l = √λ_l · a_l[i].

The paper's γ is not legible in its text; the default here is the median
heuristic γ = 1 / median_{i<j} ‖θ_i − θ_j‖², so that a typical pair has
kernel value e^{−1} whatever the scale of the weights (with scikit-learn's
default 1/n the kernel of networks with thousands of weights is nearly
linear); the value used is always returned and recorded.

Both projections are deterministic: dense eigen-solvers and a sign convention
(each component's largest-magnitude coordinate is positive). The array-level
pieces (`kernel_pca_coordinates`, `linear_pca`, `centroid_distances`,
`median_gamma`) serve the optimizer-topography study too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr


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
    """γ = 1/median_{i<j}‖θ_i − θ_j‖², the RBF width of kernel PCA by default.

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


def kernel_pca_coordinates(
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


def separation(coords: np.ndarray, in_a: np.ndarray, in_b: np.ndarray) -> float:
    """How far two groups of points lie apart along the first coordinate, in pooled
    standard deviations: |mean_a − mean_b| / √(½(var_a + var_b)) (∞ for two points).

    The optimizer-strategies paper's Fig. 6 reads its kernel PCA this way: SGD and
    L-BFGS-GSS solutions separate along the first kernel component, not along the
    first linear one.
    """
    xa, xb = coords[in_a, 0], coords[in_b, 0]
    pooled = np.sqrt(0.5 * (xa.var() + xb.var()))
    return float(abs(xa.mean() - xb.mean()) / pooled) if pooled > 0 else float("inf")


def component_stats(points: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation of every component of a set's vectors together
    (the optimizer-strategies paper's Table S1: the set's [k, n] vectors concatenated)."""
    x = np.asarray(points, dtype=np.float64).reshape(-1)
    return float(x.mean()), float(x.std())


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> dict[str, float | int]:
    """Two-sided Mann–Whitney U test of whether two sets' values (path heights) differ.

    The test the optimizer-strategies paper's Fig. 4 comparison calls for: it assumes
    nothing about the heights' distribution, only independent samples (draw the pairs
    without shared endpoints, `paths.draw_pairs`). Exact p-values for small samples
    without ties (scipy's "auto" method).

    Returns:
        {"U": U of `a`, "p": two-sided p-value, "n_a": len(a), "n_b": len(b),
        "median_a", "median_b"}; p is NaN when either side has no finite value.
    """
    from scipy.stats import mannwhitneyu

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    out: dict[str, float | int] = {"n_a": int(x.size), "n_b": int(y.size)}
    if not x.size or not y.size:
        return out | {"U": float("nan"), "p": float("nan")}
    test = mannwhitneyu(x, y, alternative="two-sided")
    return out | {
        "U": float(test.statistic),
        "p": float(test.pvalue),
        "median_a": float(np.median(x)),
        "median_b": float(np.median(y)),
    }


def _stacked(solutions: Sequence[torch.Tensor] | np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(solutions, torch.Tensor):
        x = solutions.detach().double().cpu().numpy()
    elif isinstance(solutions, np.ndarray):
        x = np.asarray(solutions, dtype=float)
    else:
        rows = [
            s.detach().double().cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
            for s in solutions
        ]
        sizes = {r.shape for r in rows}
        if len(sizes) > 1:
            raise ValueError(
                f"`solutions` must all be flat vectors of one length; got shapes {sorted(sizes)}."
            )
        x = np.stack(rows).astype(float) if rows else np.zeros((0, 0))
    if x.ndim != 2:
        raise ValueError(f"`solutions` must be k flat vectors (k × n); got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError("`solutions` has non-finite entries; check the checkpoints.")
    return x


def kernel_pca(
    solutions: Sequence[torch.Tensor] | np.ndarray | torch.Tensor,
    labels: Sequence[str],
    gamma: float | None = None,
    seed: int = 0,
    *,
    names: Sequence[str] | None = None,
    components: int = 2,
) -> xr.Dataset:
    """RBF kernel-PCA and linear-PCA coordinates of a pooled set of solutions.

    Args:
        solutions: k ≥ 3 flat parameter vectors (tensors, or a [k, n] array).
        labels: [k] the set each solution belongs to (e.g. "sgd", "lbfgs-gss").
        gamma: the RBF width γ in exp(−γ‖θ_i − θ_j‖²); None: the median heuristic.
        seed: seeds scikit-learn's solvers (the dense solver used here is exact).
        names: [k] a name per solution (default "<label> <index in its set>").
        components: how many components to keep (≤ k − 1).

    Returns:
        Dataset over `solution` [k] and `component` [components] with `kpca`
        and `pca` coordinates, `kpca_eigenvalues` (of the centred kernel),
        `pca_explained_variance` (fractions), and per solution `norm` ‖θ‖ and
        `centroid_distance` (to the mean of its set); coordinate `set` holds
        the labels; attrs hold γ, the kernel and every setting.

    Raises:
        ValueError: fewer than 3 solutions, labels of the wrong length,
            vectors of different lengths, non-finite entries, γ ≤ 0, or
            `components` outside 1..k−1.

    References:
        Schölkopf, Smola, Müller (1998). Nonlinear component analysis as a
        kernel eigenvalue problem. Neural Computation 10(5).
        Optimizer strategies and landscape topography, §II.4 and Fig. 6.
    """
    x = _stacked(solutions)
    k = len(x)
    if k < 3:
        raise ValueError(f"`solutions` must hold at least 3 vectors for 2 components; got {k}.")
    labels = [str(v) for v in labels]
    if len(labels) != k:
        raise ValueError(f"`labels` must have one label per solution ({k}); got {len(labels)}.")
    if not (isinstance(components, int) and 1 <= components <= k - 1):
        raise ValueError(f"`components` must be an integer in 1..{k - 1}; got {components!r}.")
    if names is None:
        seen: dict[str, int] = {}
        names = []
        for label in labels:
            names.append(f"{label} {seen.get(label, 0)}")
            seen[label] = seen.get(label, 0) + 1
    names = [str(v) for v in names]
    if len(names) != k:
        raise ValueError(f"`names` must have one name per solution ({k}); got {len(names)}.")
    rule = "median heuristic" if gamma is None else "given"
    coords, gamma, eigenvalues = kernel_pca_coordinates(x, components, gamma=gamma, seed=seed)
    linear, ratio = linear_pca(x, components)
    dist = np.empty(k)
    for s in set(labels):
        members = [i for i, v in enumerate(labels) if v == s]
        dist[members] = centroid_distances(x[members])
    return xr.Dataset(
        {
            "kpca": (("solution", "component"), coords),
            "pca": (("solution", "component"), linear),
            "kpca_eigenvalues": (("component",), eigenvalues),
            "pca_explained_variance": (("component",), ratio),
            "norm": (("solution",), np.linalg.norm(x, axis=1)),
            "centroid_distance": (("solution",), dist),
        },
        coords={  # object strings: zarr stores them without a format warning
            "solution": np.array(names, dtype=object),
            "set": ("solution", np.array(labels, dtype=object)),
            "component": np.arange(1, components + 1),
        },
        attrs={
            "kernel": "rbf",
            "gamma": gamma,
            "gamma_rule": rule,
            "seed": seed,
            "parameters": int(x.shape[1]),
        },
    )
