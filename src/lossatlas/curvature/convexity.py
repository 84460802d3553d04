"""Convexity maps: |λ_min/λ_max| of the full Hessian (or GGN, Fisher) over a 2-D plane.

Li et al. (2018, §6 "looking at convexity", Fig. 11; catalogue §5.4): a
plane's apparent convexity says only that the *mean* curvature along random
directions is positive, so they map the principal curvatures of the full
Hessian over the same plane: the ratio |λ_min/λ_max| is near zero where
negative curvature is negligible and large in chaotic regions.

`convexity_map` evaluates λ_max and λ_min (thick-restart Lanczos,
`lossatlas.curvature.eigen`) at every point of a plane made by
`lossatlas.surface` (the same origin, directions and grid) and writes them,
point by point, into a resumable store beside the surface's: re-running after
an interruption computes only the missing points, and a store from other
settings is refused.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import torch
import xarray as xr

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.curvature.eigen import extreme_eigenpairs
from lossatlas.curvature.operators import OPERATORS, as_operator
from lossatlas.results.store import fingerprint, grid_store

# sign_known: whether λ_min's sign is proven by its residual (1) or zero to precision (0)
VARIABLES = ["lambda_max", "lambda_min", "ratio", "sign_known", "products"]


def convexity_map(
    obj: Objective,
    plane: xr.Dataset,
    *,
    store: str | PathLike | None = None,
    tol: float = 1e-3,
    max_products: int | None = None,
    subspace: int | None = None,
    seed: int = 0,
    progress: bool = True,
    operator: str = "hessian",
) -> xr.Dataset:
    """λ_max, λ_min and |λ_min/λ_max| of H at every point of a surface plane.

    Args:
        obj: the objective the plane was computed with.
        plane: a 2-D surface `Dataset` from `lossatlas.surface` (plane,
            random_plane, solutions, pca_plane) or `surface.load(...)`: it
            carries the origin, d1, d2 and the alpha/beta grid.
        store: a zarr directory (e.g. beside the surface's store) to fill
            point by point and resume from.
        tol: relative residual tolerance of each eigenvalue (see
            `top_eigenvalues`); 1e-3 of ‖H‖ resolves the ratio to ~1e-3.
        max_products: the eigen-solver's HVP budget per eigenvalue.
        subspace: the eigen-solver's largest basis.
        seed: seeds the eigen-solver's starting vectors.
        progress: show a progress bar.
        operator: "hessian" (Li et al.'s map), or "ggn" / "fisher" for the same map of
            the generalised Gauss–Newton matrix or the empirical Fisher
            (`as_operator`). Both are positive semi-definite, so their ratio only
            measures how close to singular they are; recorded in the store's
            settings (a Hessian store from before the option stays resumable).

    Returns:
        Dataset with `lambda_max`, `lambda_min`, `ratio` = |λ_min/λ_max|,
        `sign_known` (1 where λ_min's sign is proven by its residual, 0 where
        λ_min is zero to the products' precision, so the ratio there is only
        an upper bound) and `products` (HVPs per point) over (alpha, beta),
        settings in attrs.
    """
    if operator not in OPERATORS:
        raise ValueError(f"`operator` must be one of {', '.join(OPERATORS)}; got {operator!r}.")
    for name in ("origin", "d1", "d2"):
        if name not in plane:
            raise ValueError(
                f"`plane` has no `{name}`: pass a 2-D plane from lossatlas.surface "
                "(plane, random_plane, solutions or pca_plane), not a line, triangle or quad."
            )
    alphas, betas = plane["alpha"].values, plane["beta"].values
    o, u, v = (
        torch.as_tensor(plane[n].values).to(device=obj.device, dtype=obj.dtype)
        for n in ("origin", "d1", "d2")
    )
    obj.space.check(o, "plane origin")
    settings = {
        "kind": "convexity",
        "origin": fingerprint(o),
        "d1": fingerprint(u),
        "d2": fingerprint(v),
        "coords": {"alpha": [float(a) for a in alphas], "beta": [float(b) for b in betas]},
        "objective": obj.describe(),
        "tol": tol,
        "max_products": max_products,
        "subspace": subspace,
        "seed": seed,
        **({"operator": operator} if operator != "hessian" else {}),
    }
    num = len(alphas) * len(betas)
    target = grid_store(store, settings, VARIABLES, num, 1, split=not obj.sharded)
    kw = {"tol": tol, "max_products": max_products, "subspace": subspace, "seed": seed}
    todo = target.pending()
    with progress_bar("convexity map", num, enabled=progress) as bar:
        finished = num - len(todo)
        bar.update(finished)
        for index in todo:
            a, b = float(alphas[index // len(betas)]), float(betas[index % len(betas)])
            op = as_operator(obj, o + a * u + b * v, operator)
            top = extreme_eigenpairs(op, 1, "top", **kw)
            bottom = extreme_eigenpairs(op, 1, "bottom", **kw)
            lmax, lmin = float(top.eigenvalues[0]), float(bottom.eigenvalues[0])
            ratio = abs(lmin / lmax) if lmax != 0 else np.inf
            target.write(
                index,
                {
                    "lambda_max": np.array([lmax]),
                    "lambda_min": np.array([lmin]),
                    "ratio": np.array([ratio]),
                    "sign_known": np.array([float(bottom.sign_known[0])]),
                    "products": np.array([float(op.products)]),
                },
            )
            finished += 1
            bar.update(finished)
    result = target.read()
    shape = (len(alphas), len(betas))
    return xr.Dataset(
        {name: (("alpha", "beta"), result[name].reshape(shape)) for name in VARIABLES},
        coords={"alpha": alphas, "beta": betas},
        attrs={"kind": "convexity", **{k: v for k, v in settings.items() if k != "coords"}},
    )


def load_convexity(store: str | PathLike) -> xr.Dataset:
    """A convexity map from its store (finished or partial: missing points are NaN)."""
    from lossatlas.results.store import open_store

    group = open_store(store)
    settings = dict(group.attrs)["settings"]
    if settings.get("kind") != "convexity":
        raise ValueError(
            f"{str(store)!r} is not a convexity store (kind {settings.get('kind')!r})."
        )
    alphas, betas = (np.asarray(settings["coords"][c]) for c in ("alpha", "beta"))
    shape = (len(alphas), len(betas))
    return xr.Dataset(
        {name: (("alpha", "beta"), group[name][:].reshape(shape)) for name in VARIABLES},
        coords={"alpha": alphas, "beta": betas},
        attrs={"kind": "convexity", **{k: v for k, v in settings.items() if k != "coords"}},
    )
