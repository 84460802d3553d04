"""Patterns in the loss landscape: a plane whose loss draws a given image.

Skorokhodov & Burtsev (2019) found arbitrary 2-D binary patterns inside the
loss surfaces of real networks by *multi-point optimisation*: choose an origin
θ₀ and two directions d₁, d₂ and train them so that the loss on a grid of the
plane θ(α, β) = θ₀ + α d₁ + β d₂ takes prescribed values. Czarnecki et al.
(2020) prove that a sufficiently deep and wide network's loss surface contains
every low-dimensional pattern, smooth or binary, and that such patterns are
easy to find. Both in catalogue §2.1.

Here the image p [h, w] (values in [0, 1]) sets target losses

    t_ij = low + (high − low) · p_ij

at the grid points α_j (left to right) and β_i (top row = largest β), and
(θ₀, d₁, d₂) minimise Σ_ij (L(θ(α_j, β_i)) − t_ij)² with Adam. The exact
gradients are Σ 2(L − t)∇L(θ_ij) · (1, α_j, β_i) for (θ₀, d₁, d₂); every
step needs L and ∇L at the h·w points (`Objective.values_and_grads`). The
result is scored by the Pearson correlation between the achieved losses and
the image.

References:
    Skorokhodov, Burtsev (2019). Loss landscape sightseeing with multi-point
    optimization. arXiv:1910.03867.
    Czarnecki, Osindero, Pascanu, Jaderberg (2020). A deep neural network's
    loss surface contains every low-dimensional pattern. arXiv:1912.07559.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar

PATTERNS: dict[str, list[str]] = {
    # '#' = 1 (high loss), '.' = 0 (low loss); grey ones are below.
    "smiley": [".#.#.", ".#.#.", ".....", "#...#", ".###."],
    "cross": ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
    "checkerboard": ["#.#.#", ".#.#.", "#.#.#", ".#.#.", "#.#.#"],
    "letter-a": [".###.", "#...#", "#####", "#...#", "#...#"],
}
MAX_CELLS = 1024


def _grey(name: str) -> np.ndarray | None:
    yy, xx = np.mgrid[-1:1:5j, -1:1:5j]
    if name == "ring":
        return np.exp(-((np.hypot(xx, yy) - 0.7) ** 2) / 0.1)
    if name == "ramp":
        return (xx + yy + 2) / 4
    return None


def pattern_names() -> list[str]:
    """The built-in patterns: binary ones and the grey 'ring' and 'ramp'."""
    return [*PATTERNS, "ring", "ramp"]


def load_pattern(source: str | PathLike | np.ndarray) -> np.ndarray:
    """A pattern as a float64 [h, w] array scaled to [0, 1].

    Args:
        source: a built-in name (`pattern_names`), a .npy file, a .png file
            (grey levels, or the mean of the RGB channels; alpha ignored), or
            an array.

    Raises:
        ValueError: for an unknown name or suffix, a non-2-D or constant
            image, non-finite values, or more than `MAX_CELLS` cells.
        FileNotFoundError: for a missing file.
    """
    if isinstance(source, np.ndarray):
        image = source.astype(np.float64)
    elif str(source) in PATTERNS:
        image = np.array([[c == "#" for c in row] for row in PATTERNS[str(source)]], float)
    elif (grey := _grey(str(source))) is not None:
        image = grey
    else:
        path = Path(source)
        if path.suffix.lower() not in (".npy", ".png"):
            raise ValueError(
                f"`pattern` must be one of {pattern_names()}, a .npy or a .png file; got "
                f"{str(source)!r}."
            )
        if not path.exists():
            raise FileNotFoundError(f"pattern file {str(path)!r} does not exist.")
        if path.suffix.lower() == ".npy":
            image = np.load(path).astype(np.float64)
        else:
            from matplotlib import image as mpimg

            image = mpimg.imread(path).astype(np.float64)
            if image.ndim == 3:
                image = image[..., :3].mean(-1)
    if image.ndim != 2:
        raise ValueError(f"a pattern must be a 2-D image [h, w]; got shape {image.shape}.")
    if image.size > MAX_CELLS:
        raise ValueError(
            f"a pattern must have at most {MAX_CELLS} cells (each is a point whose gradient is "
            f"needed at every step); got {image.shape}. Downsample it first."
        )
    if not np.isfinite(image).all():
        raise ValueError("the pattern has non-finite values.")
    lo, hi = image.min(), image.max()
    if hi == lo:
        raise ValueError("the pattern is constant; it needs at least two grey levels.")
    return (image - lo) / (hi - lo)


@dataclass
class PatternFit:
    """A plane whose loss draws the pattern.

    Attributes:
        origin, d1, d2: the plane θ(α, β) = origin + α d1 + β d2 [n each].
        alphas: α of each column [w]; betas: β of each row [h] (top row first).
        pattern: the image in [0, 1] [h, w]; target: the target losses [h, w].
        achieved: L at the grid points [h, w].
        correlation: Pearson correlation of `achieved` and `pattern`.
        history: the fitting loss Σ (L − t)² / (h w) before each step and at the end.
        low, high: the loss levels of pattern values 0 and 1.
    """

    origin: Tensor
    d1: Tensor
    d2: Tensor
    alphas: np.ndarray
    betas: np.ndarray
    pattern: np.ndarray
    target: np.ndarray
    achieved: np.ndarray
    correlation: float
    history: np.ndarray
    low: float
    high: float


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1])


def fit_pattern(
    obj: Objective,
    pattern: str | PathLike | np.ndarray,
    *,
    origin: Tensor | None = None,
    span: float = 1.0,
    low: float | None = None,
    high: float | None = None,
    steps: int = 300,
    lr: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> PatternFit:
    """Find θ₀, d₁, d₂ whose loss on a grid reproduces `pattern` (multi-point optimisation).

    Args:
        obj: the objective (its model's current θ is the default origin).
        pattern: see `load_pattern`.
        origin: the starting θ₀ (default: the model's parameters).
        span: α and β run over [−span, span].
        low, high: losses of pattern values 0 and 1; default 0.5·L(θ₀) and
            1.5·L(θ₀) of the starting origin.
        steps: Adam steps; the plane with the smallest fitting loss seen is kept.
        lr: Adam learning rate.
        seed: seed of the starting directions (Gaussian, each of norm
            0.1·max(1, ‖θ₀‖)).
        progress: show a progress bar.
    """
    image = load_pattern(pattern)
    if steps < 1:
        raise ValueError(f"`steps` must be a positive integer; got {steps!r}.")
    if not span > 0:
        raise ValueError(f"`span` must be positive; got {span!r}.")
    h, w = image.shape
    o = obj._checked(obj.point() if origin is None else origin).clone()
    base = float(obj.value(o))
    low = 0.5 * base if low is None else float(low)
    high = 1.5 * base if high is None else float(high)
    if not high > low:
        raise ValueError(f"`high` must exceed `low`; got low={low!r}, high={high!r}.")
    gen = torch.Generator().manual_seed(seed)
    scale = 0.1 * max(1.0, float(o.norm()))
    d1, d2 = (torch.randn(obj.size, generator=gen, dtype=torch.float64).to(o) for _ in range(2))
    d1, d2 = d1 * (scale / d1.norm()), d2 * (scale / d2.norm())
    alphas = np.linspace(-span, span, w)
    betas = np.linspace(span, -span, h)  # row 0 is the top of the image
    A = torch.as_tensor(np.tile(alphas, h), dtype=o.dtype, device=o.device)[:, None]
    B = torch.as_tensor(np.repeat(betas, w), dtype=o.dtype, device=o.device)[:, None]
    t = torch.as_tensor(low + (high - low) * image.reshape(-1), dtype=o.dtype, device=o.device)
    params = [p.requires_grad_(True) for p in (o, d1, d2)]
    opt = torch.optim.Adam(params, lr=lr)
    history, best = [], (float("inf"), None)
    with progress_bar("fitting the pattern", steps, enabled=progress) as bar:
        for k in range(steps + 1):
            with torch.no_grad():
                L, G = obj.values_and_grads(o + A * d1 + B * d2)
                fit = float(((L - t) ** 2).mean())
                history.append(fit)
                if fit < best[0]:  # Adam may overshoot late: keep the best plane seen
                    best = (fit, [p.detach().clone() for p in params])
                if k == steps:
                    break
                r = (L - t) * (2 / len(t))
                o.grad, d1.grad, d2.grad = r @ G, (r * A[:, 0]) @ G, (r * B[:, 0]) @ G
            opt.step()
            bar.update(k + 1, fit=fit)
    o, d1, d2 = best[1]
    achieved = obj.values(o + A * d1 + B * d2).double().cpu().numpy().reshape(h, w)
    return PatternFit(
        origin=o,
        d1=d1,
        d2=d2,
        alphas=alphas,
        betas=betas,
        pattern=image,
        target=t.double().cpu().numpy().reshape(h, w),
        achieved=achieved,
        correlation=_correlation(achieved, image),
        history=np.asarray(history),
        low=low,
        high=high,
    )
