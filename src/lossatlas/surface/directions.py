"""Directions in parameter space: random, through solutions, and of a trajectory.

Every direction is a flat vector δ ∈ R^n in the layout of a `ParamSpace`.

- `random_direction`: Gaussian, then filter-, layer- or not normalised
  (Li et al. 2018, §4): for every filter j of layer i,
  δ_ij ← δ_ij / ‖δ_ij‖ · ‖θ_ij‖, so that the plot's scale matches the
  scale of the weights and scale-invariant networks can be compared.
- `through_two` / `through_three`: the line θa→θb and the plane through three
  solutions, with orthonormal in-plane axes and each solution's coordinates
  (Im, Tao, Branson 2016; catalogue §5.1).
- `pca_directions`: the top principal directions of a training trajectory
  relative to its end point, with explained variance (Li et al. 2018 §6;
  Gallagher 2000).

References:
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape
    of Neural Nets. NeurIPS. §4, §6.
    Im, Tao, Branson (2016). An empirical analysis of the optimization of
    deep network loss surfaces. arXiv:1612.04010.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lossatlas.core.space import ParamSpace

Norm = Literal["filter", "layer", "none"]
Ignore = Literal["biasbn", "none"] | None
NORMS: tuple[str, ...] = ("filter", "layer", "none")


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int or a torch.Generator; got {type(seed).__name__}.")
    return torch.Generator().manual_seed(seed)


def _group_rescale(d: Tensor, theta: Tensor, index: Tensor, groups: int) -> Tensor:
    """δ_g ← δ_g/‖δ_g‖·‖θ_g‖ for every group g at once (one index_add, no Python loop)."""
    index = index.to(d.device)
    d_norm = torch.zeros(groups, dtype=d.dtype, device=d.device).index_add_(0, index, d * d)
    t_norm = torch.zeros(groups, dtype=d.dtype, device=d.device).index_add_(0, index, theta * theta)
    # a group of zero weights gets a zero direction (nothing to match the scale of)
    scale = torch.where(d_norm > 0, t_norm.sqrt() / d_norm.sqrt().clamp_min(1e-300), 0.0)
    return d * scale[index]


def normalise(
    d: Tensor, space: ParamSpace, theta: Tensor, norm: Norm = "filter", ignore: Ignore = "biasbn"
) -> Tensor:
    """Rescale direction `d` to the scale of θ per filter, per layer or not at all.

    Args:
        d: [n] direction.
        space: the layout of θ.
        theta: [n] the point the direction is drawn at.
        norm: "filter": per filter (slice along dim 0 of a weight; a bias or a
            normalisation tensor is one group), Li et al. 2018 §4; "layer": per
            tensor; "none": unchanged.
        ignore: "biasbn" zeroes the bias and normalisation coordinates (Li et
            al.'s usual setting); "none" (or None, as the CLI's `--ignore none`)
            keeps and normalises them as groups.

    Returns:
        The normalised direction, a new tensor.
    """
    if norm not in NORMS:
        raise ValueError(
            f"`norm` must be one of {NORMS}; got {norm!r}. 'filter' is Li et al.'s "
            "filter normalisation."
        )
    if ignore not in ("biasbn", "none", None):
        raise ValueError(f"`ignore` must be 'biasbn', 'none' or None; got {ignore!r}.")
    space.check(d, "d")
    theta = theta.to(d)
    if norm == "filter":
        d = _group_rescale(d, theta, space.filter_index, space.num_groups)
    elif norm == "layer":
        d = _group_rescale(d, theta, space.layer_index, len(space))
    else:
        d = d.clone()
    if ignore == "biasbn":
        d[space.mask(["bias", "norm"], device=d.device)] = 0.0
    return d


def random_direction(
    space: ParamSpace,
    theta: Tensor,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
    seed: int | torch.Generator = 0,
) -> Tensor:
    """A Gaussian direction δ ~ N(0, I), normalised as `normalise` describes.

    The draw is made on the CPU in float64 from `seed` and then moved, so the
    same seed gives the same direction on every device and dtype.
    """
    space.check(theta)
    g = _generator(seed)
    d = torch.randn(space.size, generator=g, dtype=torch.float64)
    return normalise(d, space, theta.detach().double().cpu(), norm, ignore).to(theta)


def random_plane(
    space: ParamSpace,
    theta: Tensor,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Two independent random directions, both drawn from one stream seeded by `seed`.

    Each seed has its own stream, so planes of different seeds share no
    direction (drawing d2 from `seed + 1` made seed 1's d1 seed 0's d2). As in
    Li et al. 2018 they are not orthogonalised: in high dimension two Gaussian
    directions are nearly orthogonal (cosine ~ 1/√n).
    """
    g = _generator(seed)
    return (
        random_direction(space, theta, norm, ignore, g),
        random_direction(space, theta, norm, ignore, g),
    )


@dataclass(frozen=True)
class PlaneBasis:
    """An affine plane θ(α, β) = origin + α·d1 + β·d2 with marked points in it.

    Attributes:
        origin: [n].
        d1, d2: [n] the in-plane directions.
        coords: [k, 2] (α, β) of each marked point (solutions or trajectory steps).
        labels: a label per marked point.
        explained_variance: for PCA planes, the fraction of variance of the
            trajectory along d1 and d2.
    """

    origin: Tensor
    d1: Tensor
    d2: Tensor
    coords: Tensor
    labels: tuple[str, ...]
    explained_variance: tuple[float, float] | None = None

    def point(self, alpha: float, beta: float) -> Tensor:
        """θ(α, β) = origin + α·d1 + β·d2."""
        return self.origin + alpha * self.d1 + beta * self.d2


def _check_points(points: list[Tensor] | tuple[Tensor, ...], k: int) -> Tensor:
    if len(points) != k:
        raise ValueError(f"`points` must be {k} flat parameter vectors; got {len(points)}.")
    sizes = {tuple(p.shape) for p in points}
    if len(sizes) != 1 or next(iter(sizes)).__len__() != 1:
        raise ValueError(
            "the solutions must be flat vectors of one length; got shapes "
            f"{[tuple(p.shape) for p in points]}."
        )
    return torch.stack(list(points))


def through_two(theta_a: Tensor, theta_b: Tensor) -> Tensor:
    """δ = θb − θa: the direction of the line through two solutions."""
    stacked = _check_points([theta_a, theta_b], 2)
    return stacked[1] - stacked[0]


def through_three(
    points: list[Tensor] | tuple[Tensor, ...], labels: tuple[str, ...] = ("0", "1", "2")
) -> PlaneBasis:
    """The plane through three solutions, origin at the first.

    d1 = (θ1 − θ0)/‖θ1 − θ0‖ and d2 the Gram–Schmidt complement of θ2 − θ0,
    so (α, β) are Euclidean coordinates in the plane (distances in weight
    space); each solution's coordinates are returned with it (Im et al. 2016).

    Raises:
        ValueError: the three solutions are (numerically) collinear.
    """
    P = _check_points(points, 3)
    v1, v2 = P[1] - P[0], P[2] - P[0]
    n1 = v1.norm()
    if n1 == 0:
        raise ValueError("solutions 0 and 1 are the same point; a plane needs three distinct.")
    d1 = v1 / n1
    w = v2 - (v2 @ d1) * d1
    if w.norm() <= 1e-8 * max(float(v2.norm()), 1e-300):
        raise ValueError("the three solutions are collinear; they span no plane.")
    d2 = w / w.norm()
    coords = torch.stack([(P - P[0]) @ d1, (P - P[0]) @ d2], dim=1)
    return PlaneBasis(P[0].clone(), d1, d2, coords, tuple(labels))


def pca_directions(trajectory: Tensor, steps: list[int] | None = None) -> PlaneBasis:
    """The top-2 principal directions of a trajectory relative to its last point.

    With M = [θ_0 − θ_T; …; θ_{T−1} − θ_T] (Li et al. 2018 §6), d1 and d2 are
    the first two right singular vectors of M, the explained variances are
    σ_k² / Σ σ², and every step's coordinates are its projection
    (θ_t − θ_T)·d_k. The origin is the final point θ_T.

    Args:
        trajectory: [T+1, n] points along training (T ≥ 2).
        steps: labels for the points (defaults to 0..T).
    """
    if trajectory.dim() != 2 or trajectory.shape[0] < 3:
        raise ValueError(
            "`trajectory` must be a [T, n] stack of at least 3 points; got shape "
            f"{tuple(trajectory.shape)}."
        )
    final = trajectory[-1]
    M = (trajectory[:-1] - final).double()
    # The economy SVD of the small side: M Mᵀ is [T, T], so this is cheap for any n.
    _, S, Vh = torch.linalg.svd(M, full_matrices=False)
    total = float((S**2).sum())
    if total == 0 or S.numel() < 2 or S[1] == 0:
        raise ValueError("the trajectory does not move in two independent directions.")
    # A deterministic sign: the largest-magnitude coordinate of each direction is positive.
    signs = torch.sign(Vh[:2].gather(1, Vh[:2].abs().argmax(1, keepdim=True))).squeeze(1)
    d = (Vh[:2] * signs[:, None]).to(trajectory.dtype)
    coords = (trajectory - final).to(d) @ d.T
    labels = tuple(str(s) for s in (steps if steps is not None else range(len(trajectory))))
    ev = (float(S[0] ** 2) / total, float(S[1] ** 2) / total)
    return PlaneBasis(final.clone(), d[0], d[1], coords, labels, ev)
