"""Kernel PCA of solution sets against the eigenvectors of the centred kernel matrix."""

import numpy as np
import pytest
import torch

from lossatlas.geometry.solution_sets import kernel_pca, median_gamma


def _sets(seed: int = 0):
    """Two sets of 5 vectors in R^30: a tight ball and a shell of larger radius."""
    rng = np.random.default_rng(seed)
    inner = 0.3 * rng.standard_normal((5, 30))
    shell = rng.standard_normal((5, 30))
    shell *= 3.0 / np.linalg.norm(shell, axis=1, keepdims=True)
    return np.concatenate([inner, shell]), ["sgd"] * 5 + ["lbfgs-gss"] * 5


def _exact_kpca(x: np.ndarray, gamma: float, m: int) -> np.ndarray:
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    k = np.exp(-gamma * d2)
    h = np.eye(len(x)) - 1.0 / len(x)
    lam, vec = np.linalg.eigh(h @ k @ h)
    order = np.argsort(lam)[::-1][:m]
    return vec[:, order] * np.sqrt(lam[order]), lam[order]


def _same_up_to_sign(a: np.ndarray, b: np.ndarray) -> bool:
    signs = np.sign((a * b).sum(0))
    return np.allclose(a, b * signs, atol=1e-10)


def test_coordinates_are_the_centred_kernel_eigenvectors():
    x, labels = _sets()
    ds = kernel_pca(x, labels, gamma=0.05)
    expected, lam = _exact_kpca(x, 0.05, 2)
    assert _same_up_to_sign(ds.kpca.values, expected)
    assert np.allclose(ds.kpca_eigenvalues.values, lam, rtol=1e-10)
    # linear PCA: projections on the top right-singular vectors of the centred data
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    assert _same_up_to_sign(ds.pca.values, xc @ vt[:2].T)
    assert np.allclose(ds.pca_explained_variance.values, (s[:2] ** 2) / (s**2).sum())
    assert list(ds["set"].values) == labels and ds.solution.values[5] == "lbfgs-gss 0"
    assert np.allclose(ds.norm.values, np.linalg.norm(x, axis=1))
    inner_centroid = x[:5].mean(0)
    assert ds.centroid_distance.values[0] == pytest.approx(np.linalg.norm(x[0] - inner_centroid))


def test_default_gamma_is_the_median_heuristic_and_tensors_work():
    x, labels = _sets(1)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    gamma = 1.0 / np.median(d2[np.triu_indices(10, 1)])
    assert median_gamma(x) == pytest.approx(gamma)
    ds = kernel_pca([torch.from_numpy(r) for r in x], labels)
    assert ds.attrs["gamma"] == pytest.approx(gamma)
    assert ds.attrs["gamma_rule"] == "median heuristic"
    assert _same_up_to_sign(ds.kpca.values, _exact_kpca(x, gamma, 2)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solutions": np.zeros((2, 4)), "labels": ["a", "b"]}, "at least 3"),
        ({"solutions": np.ones((3, 4)), "labels": ["a"] * 3}, "two distinct solutions"),
        ({"solutions": np.eye(3), "labels": ["a", "b"]}, "one label per solution"),
        ({"solutions": np.eye(3), "labels": ["a"] * 3, "gamma": -1.0}, "`gamma` must be"),
        ({"solutions": [torch.zeros(3), torch.zeros(4)], "labels": ["a", "b"]}, "one length"),
        ({"solutions": np.full((3, 2), np.nan), "labels": ["a"] * 3}, "non-finite"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernel_pca(**kwargs)
