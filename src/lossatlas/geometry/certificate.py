"""Non-ascending trajectories: certificates that a point is not a regional local minimum.

Hamey (1998; catalogue §5.3) defines the *minimum region* M(w₀) as the points
reachable from w₀ by a non-ascending trajectory (a continuous path along which
the loss never increases); w₀ lies in a regional local minimum only if no
such path leads to lower loss. So a non-ascending path from w₀ to a point
of lower loss is a certificate that w₀ is not in a regional local minimum;
his theorem is that for XOR with two hidden units one exists from every
finite point.

`descent_certificate` searches for such a path as a polyline θ₀ → θ₁ → ... :

1. Escape. At a stationary point the gradient gives no direction, so
   candidate segments θ + r·u are tried: −∇L, eigenvectors of the dense
   Hessian with negative eigenvalues (sign chosen so the gradient does not
   oppose), its null-space eigenvectors, random null-space combinations and
   the coordinate axes, each at radii r ∈ `radii`, both signs. A segment
   counts when, at its `samples` + 1 sample points, the loss never rises
   (by more than `tol`) and the slope dL/dt is never positive (by more than
   tol per sample spacing): a rise hidden between two samples would need the
   slope to turn up and down again within one spacing. A segment that ends
   strictly lower is taken; failing that, the longest *flat* one (a move
   along a level set, allowed by Hamey's definition), after which the
   search repeats, at most `flat_moves` times in a row.
2. Descend. Modified-Newton segments d = −V|Λ|₊⁻¹Vᵀ∇L (a descent
   direction, ‖d‖ ≤ `max_step`), each cut at the first sample where the
   loss rises or the slope turns up; where none descends (a stationary
   point again) the escape is tried again. Until L ≤ `target`, no escape is
   found, or `max_segments`.

What it proves, honestly: the polyline is continuous and, at its sampled
points (`samples` per segment), the loss never rises by more than a rounding
tolerance and its slope is never positive; `verify_non_ascending`
re-samples any polyline more densely as an independent check. If the loss
is monotone between samples, θ₀ is not a regional local minimum. It is
numerical evidence, not interval arithmetic. The search can fail where a
path exists (e.g. on plateaus flat to float64 precision); failure proves
nothing. At a true local minimum every segment rises and it fails (tested
on the Müller–Brown minima).

Reference:
    Hamey (1998). XOR has no local minima: a case study in neural network
    error surface analysis. Neural Networks 11(4). §§3–5.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.curvature import dense_hessian

RADII = (1e-3, 1e-2, 0.1, 0.3, 1.0)


@dataclass
class Certificate:
    """A non-ascending polyline from θ₀ (or why none was found).

    Attributes:
        found: the path ends strictly below L(θ₀) and never rises.
        start_loss, end_loss: L at its ends.
        vertices: θ₀, θ₁, ... [k, n].
        kinds: how each segment was found: "gradient", "negative-curvature",
            "flat", "null-space", "random-null", "coordinate", "newton".
        arc: arc length of every sample along the polyline [m].
        loss: L at those samples [m].
        max_rise: the largest increase between consecutive samples (≤ tol).
        tol: the rounding tolerance of "never rises".
        reason: why the search stopped.
    """

    found: bool
    start_loss: float
    end_loss: float
    vertices: Tensor
    kinds: list[str]
    arc: Tensor
    loss: Tensor
    max_rise: float
    tol: float
    reason: str = ""
    flat_moves: int = field(default=0)


def rounding_tol(loss: float, dtype: torch.dtype) -> float:
    """The rise below which two evaluations are equal: 64·ε·max(1, |L|)."""
    return 64 * torch.finfo(dtype).eps * max(1.0, abs(loss))


def segment_profile(obj: Objective, a: Tensor, b: Tensor, samples: int) -> tuple[Tensor, Tensor]:
    """L and dL/dt at `samples` + 1 even points of each segment θ(t) = a_k + t(b_k − a_k).

    Returns:
        (losses, slopes), each [k, samples + 1]; slope = ∇L(θ(t))·(b_k − a_k).
    """
    t = torch.linspace(0, 1, samples + 1, dtype=a.dtype, device=a.device)
    pts = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    L, G = obj.values_and_grads(pts.reshape(-1, a.shape[-1]))
    slopes = (G.reshape(len(a), samples + 1, -1) * (b - a)[:, None, :]).sum(-1)
    return L.reshape(len(a), samples + 1), slopes


def _prefix(losses: Tensor, slopes: Tensor, tol: float) -> Tensor:
    """Index of the last sample of each row's initial non-ascending run.

    A sample j ≥ 1 ends the run when the loss rose from sample j − 1 by more
    than tol, or when its slope would raise the loss by more than tol over one
    sample spacing (the start's own slope is ~0 at a stationary point and is
    not checked).
    """
    m = losses.shape[1] - 1
    bad = ((losses[:, 1:] - losses[:, :-1]) > tol) | (slopes[:, 1:] / m > tol)
    whole = torch.full((len(bad),), m, dtype=torch.long, device=bad.device)
    return torch.where(bad.any(1), bad.int().argmax(1), whole)


def _candidates(g: Tensor, lam: Tensor, V: Tensor, zero_tol: float, gen: torch.Generator):
    """Unit escape directions with their kinds, most promising first."""
    n = len(g)
    dirs, kinds = [], []
    if float(g.norm()) > 0:
        dirs.append(-g / g.norm())
        kinds.append("gradient")
    for i in torch.argsort(lam):
        if lam[i] >= -zero_tol:
            break
        v = V[:, i] * (-1.0 if float(g @ V[:, i]) > 0 else 1.0)
        dirs += [v, -v]
        kinds += ["negative-curvature"] * 2
    null = V[:, lam.abs() <= zero_tol]
    for j in range(null.shape[1]):
        dirs += [null[:, j], -null[:, j]]
        kinds += ["null-space"] * 2
    if null.shape[1] > 1:
        mix = null @ torch.randn(null.shape[1], 8, generator=gen, dtype=null.dtype)
        mix = mix / mix.norm(dim=0)
        for j in range(8):
            dirs += [mix[:, j], -mix[:, j]]
            kinds += ["random-null"] * 2
    eye = torch.eye(n, dtype=g.dtype, device=g.device)
    for i in range(n):
        dirs += [eye[i], -eye[i]]
        kinds += ["coordinate"] * 2
    return torch.stack(dirs), kinds


def _escape(obj, theta, loss, tol, radii, samples, gen, rtol):
    """One escape segment: (end, kind, losses along it, strict) or None."""
    g = obj.grad(theta)
    lam, V = torch.linalg.eigh(dense_hessian(obj, theta))
    zero_tol = rtol * max(float(lam.abs().max()), torch.finfo(lam.dtype).tiny)
    dirs, kinds = _candidates(g, lam, V, zero_tol, gen)
    best_flat = None
    for r in radii:
        ends = theta[None] + r * dirs
        L, slopes = segment_profile(obj, theta[None].expand_as(ends), ends, samples)
        monotone = _prefix(L, slopes, tol) == samples
        strict = monotone & (L[:, -1] < loss - tol)
        if bool(strict.any()):
            i = int(strict.int().argmax())
            return ends[i], kinds[i], L[i], True
        flat = monotone & ((L[:, -1] - loss).abs() <= tol)
        if bool(flat.any()):
            i = int(flat.int().argmax())
            best_flat = (ends[i], "flat", L[i], False)  # larger radii come later: keep the last
    return best_flat


def _newton_direction(obj: Objective, theta: Tensor, g: Tensor, max_step: float) -> Tensor:
    """−V|Λ|₊⁻¹Vᵀg, |eigenvalues| floored at 1e-8·max|λ| (a descent direction), ‖d‖ ≤ max_step."""
    lam, V = torch.linalg.eigh(dense_hessian(obj, theta))
    floor = 1e-8 * max(float(lam.abs().max()), torch.finfo(lam.dtype).tiny)
    d = -V @ ((V.T @ g) / lam.abs().clamp_min(floor))
    norm = float(d.norm())
    return d * (max_step / norm) if norm > max_step else d


def _descend(obj, theta, loss, tol, samples, max_step):
    """One modified-Newton segment cut at the end of its non-ascending run, or None."""
    d = _newton_direction(obj, theta, obj.grad(theta), max_step)
    for _shrink in range(30):
        L, slopes = segment_profile(obj, theta[None], (theta + d)[None], samples)
        k = int(_prefix(L, slopes, tol)[0])
        if k > 0 and float(L[0, k]) < loss - tol:
            return theta + (k / samples) * d, L[0, : k + 1]
        d = d / 4
    return None


def descent_certificate(
    obj: Objective,
    theta: Tensor,
    *,
    target: float | None = None,
    max_segments: int = 200,
    samples: int = 16,
    radii: tuple[float, ...] = RADII,
    flat_moves: int = 4,
    max_step: float = 1.0,
    rtol: float = 1e-9,
    seed: int = 0,
) -> Certificate:
    """Search a non-ascending path from θ to lower loss (Hamey 1998); see the module doc.

    Args:
        obj: the objective (small: the escape uses the dense Hessian), float64.
        theta: the start θ₀ [n], typically a stationary point.
        target: stop once L ≤ target (None: until no step descends).
        max_segments: most segments in all.
        samples: samples per segment (loss and slope at each).
        radii: escape segment lengths tried, shortest first.
        flat_moves: most level-set moves in a row before giving up.
        max_step: longest descent segment.
        rtol: |λ| ≤ rtol·max|λ| counts as a zero eigenvalue.
        seed: seed of the random null-space directions.

    Returns:
        A `Certificate`; `found` says whether the path ends strictly lower.
    """
    if samples < 2:
        raise ValueError(f"`samples` must be at least 2; got {samples!r}.")
    theta = obj._checked(theta).clone()
    gen = torch.Generator().manual_seed(seed)
    loss0 = float(obj.value(theta))
    tol = rounding_tol(loss0, obj.dtype)
    vertices, kinds, chunks = [theta], [], [torch.tensor([loss0], dtype=torch.float64)]
    loss, flats, total_flats, reason = loss0, 0, 0, "max_segments reached"
    for _ in range(max_segments):
        if target is not None and loss <= target:
            reason = f"reached target {target:g}"
            break
        step = _descend(obj, theta, loss, tol, samples, max_step) if flats == 0 else None
        if step is not None:
            theta, L = step
            kind = "newton"
        else:  # no descending Newton segment: a stationary point (again); escape
            found = _escape(obj, theta, loss, tol, radii, samples, gen, rtol)
            if found is None:
                reason = "every candidate segment rises: no non-ascending escape found"
                break
            theta, kind, L, strict = found
            flats = 0 if strict else flats + 1
            total_flats += 0 if strict else 1
            if flats > flat_moves:
                reason = f"only flat moves found ({flat_moves}); the loss is level to precision"
                break
        loss = float(L[-1])
        vertices.append(theta)
        kinds.append(kind)
        chunks.append(L[1:].double().cpu())
    V = torch.stack(vertices)
    losses = torch.cat(chunks)
    arc = _arc(V, [len(c) for c in chunks[1:]])
    rises = losses[1:] - losses[:-1]
    max_rise = float(rises.max()) if len(rises) else 0.0
    found = loss < loss0 - tol and max_rise <= tol
    return Certificate(
        found=found,
        start_loss=loss0,
        end_loss=loss,
        vertices=V,
        kinds=kinds,
        arc=arc,
        loss=losses,
        max_rise=max_rise,
        tol=tol,
        reason=reason,
        flat_moves=total_flats,
    )


def _arc(V: Tensor, counts: list[int]) -> Tensor:
    """Arc length at the start and at every sample of each segment (whole or cut)."""
    out, s = [0.0], 0.0
    for (a, b), c in zip(itertools.pairwise(V), counts, strict=True):
        length = float((b - a).norm())
        out += [s + length * (j + 1) / c for j in range(c)]
        s += length
    return torch.tensor(out, dtype=torch.float64)


def verify_non_ascending(obj: Objective, vertices: Tensor, *, samples: int = 64) -> float:
    """The largest rise of L between consecutive samples along a polyline, re-sampled densely.

    An independent check of a certificate: `samples` points per segment.
    """
    if len(vertices) < 2:
        return 0.0
    t = torch.linspace(0, 1, samples + 1, dtype=vertices.dtype, device=vertices.device)
    a, b = vertices[:-1], vertices[1:]
    pts = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    L = obj.values(pts.reshape(-1, vertices.shape[1])).reshape(len(a), samples + 1)
    seq = torch.cat([L[:, :-1].reshape(-1), L[-1:, -1]])
    return float((seq[1:] - seq[:-1]).max())
