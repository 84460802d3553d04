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
heuristic γ = 1 / median_{i<j} ‖θ_i − θ_j‖², which makes the kernel neither
all ones nor the identity whatever the scale of the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr


def _matrix(solutions: Sequence[torch.Tensor] | np.ndarray | torch.Tensor) -> np.ndarray:
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


def median_gamma(x: np.ndarray) -> float:
    """γ = 1 / median_{i<j} ‖x_i − x_j‖² (the median heuristic)."""
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    med = float(np.median(d2[np.triu_indices(len(x), 1)]))
    if med <= 0:
        raise ValueError("the solutions are all equal: no kernel width can separate them.")
    return 1.0 / med


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
    from sklearn.decomposition import PCA, KernelPCA

    x = _matrix(solutions)
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
    gamma = median_gamma(x) if gamma is None else float(gamma)
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"`gamma` must be a positive number; got {gamma!r}.")
    kpca = KernelPCA(
        n_components=components, kernel="rbf", gamma=gamma, eigen_solver="dense", random_state=seed
    )
    coords = kpca.fit_transform(x)
    pca = PCA(n_components=components, svd_solver="full", random_state=seed)
    linear = pca.fit_transform(x)
    centroid = {s: x[[i for i, v in enumerate(labels) if v == s]].mean(0) for s in set(labels)}
    dist = [float(np.linalg.norm(x[i] - centroid[labels[i]])) for i in range(k)]
    return xr.Dataset(
        {
            "kpca": (("solution", "component"), coords),
            "pca": (("solution", "component"), linear),
            "kpca_eigenvalues": (("component",), np.asarray(kpca.eigenvalues_, dtype=float)),
            "pca_explained_variance": (("component",), pca.explained_variance_ratio_),
            "norm": (("solution",), np.linalg.norm(x, axis=1)),
            "centroid_distance": (("solution",), np.asarray(dist)),
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
