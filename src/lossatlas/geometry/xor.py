"""XOR has no local minima (Hamey 1998): stationary points and descent certificates.

The 2-2-1 sigmoid network (`zoo.build("xor")`, 9 weights) on the four XOR
patterns with the sum of squared errors. Its global infimum, 0, is reached
only at infinity (sigmoid outputs never equal 0 or 1), so every finite
stationary point has L > 0 and is not a global minimum. Hamey proves that none
is a regional local minimum either: from each there is a non-ascending
trajectory to lower error.

`xor_analysis` checks that numerically: it minimises ‖∇L‖² from random starts
(`find_stationary_point`), classifies each finite stationary point by its
Hessian inertia, and from every one searches a non-ascending path down to
L ≤ `target` (`descent_certificate`). Runs that leave the ball ‖θ‖ ≤ `bound`
are reported as "diverged": they follow a valley out to a stationary value at
infinity (a plateau of saturated units) and are not finite stationary points.

Losses are those of `Objective` with loss="sse": the mean over the four
patterns of the squared error, i.e. Hamey's total SSE / 4 (so the familiar
"all outputs 0.5" saddle, SSE = 1, has L = 0.25).

Reference:
    Hamey (1998). XOR has no local minima: a case study in neural network
    error surface analysis. Neural Networks 11(4). (Catalogue §5.3, §5.6.2.)
    Sprinkhuizen-Kuyper, Boers (1998). The error surface of the 2-2-1 XOR
    network: the finite stationary points. Neural Networks 11(4).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from lossatlas import zoo
from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.geometry.certificate import Certificate, descent_certificate, verify_non_ascending
from lossatlas.geometry.stationary import StationaryPoint, find_stationary_point


def xor_objective(hidden: int = 2) -> Objective:
    """L(θ) of the zoo's 2-`hidden`-1 sigmoid XOR network: SSE over the patterns / 4, float64."""
    split = zoo.dataset("xor")
    net = zoo.build("xor", hidden=hidden, seed=0)
    return Objective(net, split.train, loss="sse", dtype=torch.float64)


#: |λ| ≤ PLATEAU_TOL for every Hessian eigenvalue: no curvature anywhere, to rounding.
PLATEAU_TOL = 1e-8


def on_plateau(point: StationaryPoint, *, tol: float = PLATEAU_TOL) -> bool:
    """Whether a point with ∇L ≈ 0 lies on a saturation plateau, not at a stationary point.

    Criterion: every Hessian eigenvalue has |λ| ≤ `tol` (absolute). With sigmoid
    units driven into saturation (‖θ‖ of 16–19, outputs at 5e-11 or 1), the
    gradient and the whole Hessian fall below 1e-10 because L changes only
    exponentially slowly there: L approaches its plateau level as ‖θ‖ → ∞ and
    no finite θ is stationary (Hamey 1998, §4: XOR's plateaus are reached only
    at infinity). The inertia of such a Hessian is rounding noise, so the point
    is neither a saddle nor a minimum. A finite stationary point of the XOR
    network has curvature far above `tol` in some direction.
    """
    return bool(point.inertia.eigenvalues.abs().max() <= tol)


def classify(point: StationaryPoint, *, global_tol: float = 1e-10) -> str:
    """A finite stationary point's type from L and the Hessian's inertia."""
    inertia = point.inertia
    if point.loss <= global_tol:
        return "global minimum"
    if inertia.negative > 0 and inertia.positive > 0:
        return "saddle"
    if inertia.negative > 0:
        return "maximum" if inertia.zero == 0 else "degenerate (no positive curvature)"
    if inertia.zero > 0:
        return "degenerate (positive semi-definite Hessian)"
    return "strict local minimum"


@dataclass
class XorAnalysis:
    """Stationary points of the XOR surface and the certificates from them.

    Attributes:
        points: where each start ended (finite or diverged).
        certificates: the certificate from each finite stationary point that is
            not a global minimum (None elsewhere).
        rows: one table row per start (JSON-able).
        settings: the settings of the run.
    """

    points: list[StationaryPoint]
    certificates: list[Certificate | None]
    rows: list[dict[str, Any]]
    settings: dict[str, Any]

    @property
    def finite(self) -> list[int]:
        """Indices of the finite stationary points."""
        return [i for i, p in enumerate(self.points) if p.status == "stationary"]

    @property
    def regional_minima(self) -> list[int]:
        """Finite non-global stationary points with no certificate (Hamey: none)."""
        return [
            i
            for i in self.finite
            if self.certificates[i] is not None and not self.certificates[i].found
        ]


def xor_analysis(
    *,
    hidden: int = 2,
    starts: int = 24,
    scales: tuple[float, ...] = (0.5, 1.0, 2.0),
    seed: int = 0,
    include_origin: bool = True,
    bound: float = 50.0,
    gtol: float = 1e-10,
    target: float = 1e-3,
    samples: int = 16,
    progress: bool = False,
) -> XorAnalysis:
    """Find stationary points of the XOR network, classify them, certify descent from each.

    Args:
        hidden: hidden units (2 is Hamey's network).
        starts: number of starts; start k is N(0, s²I) with s =
            scales[k mod len(scales)] (start 0 is θ = 0 with `include_origin`).
        scales: standard deviations of the starts.
        seed: seed of the starts.
        include_origin: also start at θ = 0 (all weights zero), a stationary
            point with a positive semi-definite Hessian whose certificate needs
            moves along a level set first.
        bound: runs with ‖θ‖ > bound are "diverged" (heading to infinity).
        gtol: ‖∇L‖ ≤ gtol counts as stationary.
        target: certificates descend until L ≤ target.
        samples: loss samples per certificate segment.
        progress: show a progress bar.
    """
    if starts < 1:
        raise ValueError(f"`starts` must be a positive integer; got {starts!r}.")
    if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"`scales` must hold one or more positive numbers; got {scales!r}.")
    obj = xor_objective(hidden)
    gen = torch.Generator().manual_seed(seed)
    points, certs, rows = [], [], []
    with progress_bar("XOR stationary points", starts, enabled=progress) as bar:
        for k in range(starts):
            s = scales[k % len(scales)]
            start = s * torch.randn(obj.size, generator=gen, dtype=torch.float64)
            if include_origin and k == 0:
                start = torch.zeros(obj.size, dtype=torch.float64)
            p = find_stationary_point(obj, start, gtol=gtol, bound=bound)
            if p.status == "stationary" and on_plateau(p) and classify(p) != "global minimum":
                p = dataclasses.replace(p, status="plateau")  # no finite point: see on_plateau
            kind = classify(p) if p.status == "stationary" else p.status
            cert = None
            if p.status == "stationary" and kind != "global minimum":
                cert = descent_certificate(obj, p.theta, target=target, samples=samples, seed=k)
            points.append(p)
            certs.append(cert)
            row = {
                "start": k,
                "status": p.status,
                "type": kind,
                "loss": p.loss,
                "sse": 4 * p.loss,
                "grad_norm": p.grad_norm,
                "norm": p.norm,
                # on a plateau the Hessian is rounding noise: its inertia means nothing
                **{
                    part: None if p.status == "plateau" else getattr(p.inertia, part)
                    for part in ("negative", "zero", "positive")
                },
                "certified": None if cert is None else cert.found,
                "end_loss": None if cert is None else cert.end_loss,
                "segments": None if cert is None else len(cert.kinds),
                "flat_moves": None if cert is None else cert.flat_moves,
                "escape": None if cert is None or not cert.kinds else cert.kinds[0],
                "max_rise": None if cert is None else cert.max_rise,
                "dense_max_rise": None
                if cert is None
                else verify_non_ascending(obj, cert.vertices, samples=4 * samples),
            }
            rows.append(row)
            bar.update(k + 1, loss=p.loss)
    settings = {
        "hidden": hidden,
        "starts": starts,
        "scales": list(scales),
        "seed": seed,
        "include_origin": include_origin,
        "bound": bound,
        "gtol": gtol,
        "target": target,
        "samples": samples,
        "loss": "SSE / 4 (mean over the four patterns)",
    }
    return XorAnalysis(points, certs, rows, settings)
