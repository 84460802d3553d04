"""Asymmetric valleys (He, Huang, Yuan 2019; catalogue of loss surfaces §5.7).

Along a direction u from a minimum w the loss f(s) = L(w + s·u) may rise
steeply on one side and slowly on the other. The definition (catalogue §5.7,
He et al. Definition 1): given p > 0, r > ζ > 0 and c > 1, u is
(r, p, c, ζ)-asymmetric with respect to w if

    ∇_l L(w + l·u) < p   and   ∇_l L(w − l·u) < −c·p   for all l ∈ (ζ, r),

where ∇_l L(w + l·u) is the slope f'(l) = uᵀ∇L(w + l·u) of the profile at
s = l and ∇_l L(w − l·u) its slope f'(−l) at s = −l: the + side rises
slower than p, the − side falls towards w faster than c·p (it is the steep
side); ζ excludes the flat neighbourhood of w. A valley is asymmetric if it
has one such direction. This module computes

- `profiles`: f(s) and f'(s) (exact, from ∇L) on a symmetric grid of s for
  many directions, into a resumable store;
- `asymmetry_scores`: (A₊ − A₋)/(A₊ + A₋) with A± = ∫₀^r [f(±l) − f(0)] dl,
  0 for a symmetric profile (exactly, for a quadratic), positive when the +
  side is the steep one; the flat side is its opposite sign;
- `is_asymmetric` and `largest_c`: the definition's test on the slopes at
  the grid points in (ζ, r), for given (p, c), and the supremum of c for
  which some p passes (Q/P with P = max f'(l), Q = min −f'(−l));
- `displacement`: the component of θ_SWA − w along each direction, in units
  of l, signed towards that direction's flat side (He et al. §5: averaging
  SGD iterates is biased towards the flat side).
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.results.store import fingerprint, grid_store


def grid(radius: float, points: int) -> np.ndarray:
    """s = −r, ..., 0, ..., r with `points` values on each side (2·points + 1 in all)."""
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"`radius` must be a positive number; got {radius!r}.")
    if not (isinstance(points, int) and points >= 1):
        raise ValueError(f"`points` must be an integer ≥ 1 (per side); got {points!r}.")
    side = np.linspace(0.0, radius, points + 1)
    return np.concatenate([-side[:0:-1], side])


def profiles(
    obj: Objective,
    theta: Tensor,
    directions: Tensor,
    *,
    radius: float = 1.0,
    points: int = 10,
    store: str | PathLike | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """f_d(s) = L(θ + s·u_d) and its slope f_d'(s) = u_dᵀ∇L(θ + s·u_d) on `grid(radius, points)`.

    Args:
        obj: the loss.
        theta: [n] the minimum w.
        directions: [D, n] the directions u_d (not normalised here).
        store: a directory for a resumable store (one chunk per direction).

    Returns:
        Dataset with `loss` and `slope` [direction, s], and `norm` [direction] (‖u_d‖).
    """
    obj.space.check(theta, "theta")
    if directions.dim() != 2 or directions.shape[1] != obj.size:
        raise ValueError(
            f"`directions` must be [D, n] with n = {obj.size}; got {tuple(directions.shape)}."
        )
    s = grid(radius, points)
    theta = theta.detach().to(device=obj.device, dtype=obj.dtype)
    u = directions.detach().to(device=obj.device, dtype=obj.dtype)
    k = len(s)
    settings = {
        "kind": "direction_profiles",
        "theta": fingerprint(theta),
        "directions": [fingerprint(d) for d in u],
        "s": s.tolist(),
        "objective": obj.describe(),
    }
    target = grid_store(store, settings, ["loss", "slope"], len(u) * k, k)
    steps = torch.as_tensor(s, dtype=obj.dtype, device=obj.device)[:, None]
    todo = target.pending()
    with progress_bar("direction profiles", len(u), enabled=progress) as bar:
        bar.update(len(u) - len(todo))
        for n_done, d in enumerate(todo, start=len(u) - len(todo) + 1):
            values, grads = obj.values_and_grads(theta + steps * u[d])
            slope = grads @ u[d]
            target.write(
                d, {"loss": values.double().cpu().numpy(), "slope": slope.double().cpu().numpy()}
            )
            bar.update(n_done)
    values = target.read()
    return xr.Dataset(
        {
            "loss": (("direction", "s"), values["loss"].reshape(len(u), k)),
            "slope": (("direction", "s"), values["slope"].reshape(len(u), k)),
            "norm": (("direction",), u.double().norm(dim=1).cpu().numpy()),
        },
        coords={"direction": np.arange(len(u)), "s": s},
        attrs={"radius": float(radius), "points_per_side": points},
    )


def _sides(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(l > 0 values, + side [D, L], − side [D, L]) of a variable's grid, as l increases."""
    s = ds["s"].to_numpy()
    pos = s > 0
    l_pos = s[pos]
    order = np.argsort(-s[s < 0])  # −l for increasing l
    return l_pos, np.flatnonzero(pos), np.flatnonzero(s < 0)[order]


def asymmetry_scores(ds: xr.Dataset) -> np.ndarray:
    """(A₊ − A₋)/(A₊ + A₋) per direction, A± = ∫₀^r [f(±l) − f(0)] dl (trapezoid).

    0: symmetric; > 0: the + side is steeper (the flat side is −); in [−1, 1]
    when w is a minimum along u.
    """
    loss = ds["loss"].to_numpy()
    l_pos, ip, ineg = _sides(ds)
    zero = loss[:, ds["s"].to_numpy() == 0][:, 0]
    grid_l = np.concatenate([[0.0], l_pos])
    area = {}
    for name, idx in (("+", ip), ("-", ineg)):
        rise = np.concatenate([np.zeros((len(loss), 1)), loss[:, idx] - zero[:, None]], axis=1)
        area[name] = np.trapezoid(rise, grid_l, axis=1)
    total = area["+"] + area["-"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total != 0, (area["+"] - area["-"]) / total, 0.0)


def interior(l_pos: np.ndarray, zeta: float, radius: float) -> np.ndarray:
    """Which of the grid's l ≥ 0 lie in the open interval (ζ, r) of Definition 1.

    Raises:
        ValueError: not 0 < ζ < r, or no grid point inside (more points or a smaller ζ).
    """
    if not 0 < zeta < radius:
        raise ValueError(f"the definition needs 0 < ζ < r; got ζ = {zeta!r}, r = {radius!r}.")
    keep = (l_pos > zeta) & (l_pos < radius)
    if not keep.any():
        raise ValueError(
            f"no grid point lies in (ζ, r) = ({zeta}, {radius}); use more points or a smaller ζ."
        )
    return keep


def _inside(ds: xr.Dataset, zeta: float, radius: float | None):
    """Slopes f'(l) and f'(−l) [D, L] at the grid's l in the open interval (ζ, r)."""
    l_pos, ip, ineg = _sides(ds)
    keep = interior(l_pos, zeta, float(ds.attrs["radius"]) if radius is None else radius)
    slope = ds["slope"].to_numpy()
    return slope[:, ip[keep]], slope[:, ineg[keep]]


def is_asymmetric(
    ds: xr.Dataset, p: float, c: float, zeta: float, radius: float | None = None
) -> np.ndarray:
    """The definition's test per direction, with the + side as the flat side:
    f'(l) < p and f'(−l) < −c·p at every grid l in (ζ, r).

    Test −u (the − side as the flat one) with `flipped(ds)`.

    Raises:
        ValueError: p ≤ 0, c ≤ 1, or not 0 < ζ < r.
    """
    if not p > 0:
        raise ValueError(f"`p` must be > 0; got {p!r}.")
    if not c > 1:
        raise ValueError(f"`c` must be > 1; got {c!r}.")
    plus, minus = _inside(ds, zeta, radius)
    return (plus < p).all(axis=1) & (minus < -c * p).all(axis=1)


def largest_c(ds: xr.Dataset, zeta: float, radius: float | None = None) -> np.ndarray:
    """sup{c : some p > 0 passes `is_asymmetric`} per direction (+ side flat).

    With P = max_l f'(l) and Q = min_l −f'(−l) over the grid l in (ζ, r): p must
    exceed max(P, 0) and c·p stay below Q, so the supremum is Q/P when both are
    positive, ∞ when P ≤ 0 < Q, and 0 (no c) when Q ≤ 0. Strict inequalities:
    u is asymmetric for every c < largest_c, not at it.
    """
    plus, minus = _inside(ds, zeta, radius)
    big_p, q = plus.max(axis=1), (-minus).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q <= 0, 0.0, np.where(big_p <= 0, np.inf, q / big_p))


def flipped(ds: xr.Dataset) -> xr.Dataset:
    """The profiles along −u: g(s) = f(−s), g'(s) = −f'(−s)."""
    out = ds.isel(s=slice(None, None, -1)).assign_coords(s=ds["s"].to_numpy())
    out["slope"] = -out["slope"]
    return out


def displacement(theta: Tensor, theta_avg: Tensor, directions: Tensor) -> np.ndarray:
    """⟨θ_avg − θ, u_d⟩/‖u_d‖² per direction: where the average lies on each line, in l."""
    delta = (theta_avg - theta).detach().double().cpu()
    u = directions.detach().double().cpu()
    return ((u @ delta) / (u * u).sum(dim=1)).numpy()
