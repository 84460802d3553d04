"""Cooper's Lemma 3.3: one hidden layer of width d fits d distinct points exactly.

With a rectified activation σ (σ(z) = 0 for z ≤ 0, increasing for z > 0;
Def. 3.1) such as smooLU (Def. 3.2), the network

    f(x) = Σ_j m_j σ(a·x − b_j)

with every hidden row equal to one vector a, thresholds b_j at the midpoints
of the sorted projections and output weights from a lower-triangular system
interpolates the data, so the manifold of global minima M = L⁻¹(0) is not
empty (Thm. 4.1); `geometry.overparam.minimum_manifold` then checks Prop. 2.3
there.

Reference:
    Cooper (2018). The loss landscape of overparameterized neural networks.
    arXiv:1804.10200. Def. 3.1, 3.2, Lemma 3.3, Thm. 4.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lossatlas.zoo.models import make_activation


@dataclass
class ConstructiveNetwork:
    """The network of Lemma 3.3 and the numbers that define it.

    f(x) = Σ_j m_j σ(a·x − b_j): every row of the first weight is a, the first
    bias is −b, the output weights are m and the output bias is 0.

    Attributes:
        model: nn.Sequential(Linear(p, h), σ, Linear(h, 1)), float64.
        a: the projection [p]; b: the thresholds [d]; m: the output weights [d].
        order: the points sorted by a·x (order[i] is the i-th smallest).
        A: the lower-triangular matrix A_ij = σ(a·x_(i) − b_j) [d, d].
    """

    model: nn.Sequential
    a: Tensor
    b: Tensor
    m: Tensor
    order: Tensor
    A: Tensor


def constructive_network(
    x: Tensor,
    y: Tensor,
    *,
    a: Tensor | None = None,
    width: int | None = None,
    gap: float = 5.0,
    activation: str = "smoolu",
    seed: int = 0,
) -> ConstructiveNetwork:
    """One hidden layer of width d that fits d distinct points exactly (Cooper, Lemma 3.3).

    Choose a with distinct projections a·x_i and sort the points so they
    increase; put a·x_0 = a·x_1 − 1 and b_i = (a·x_{i−1} + a·x_i)/2. Then
    A_ij = σ(a·x_i − b_j) is lower triangular with a positive diagonal for a
    rectified σ (σ(z) = 0 for z ≤ 0), and m = A⁻¹y (forward substitution)
    gives f(x_i) = Σ_j m_j σ(a·x_i − b_j) = y_i. Extra units (width > d) get
    zero weights, as in the proof.

    Args:
        x: inputs [d, p] (distinct rows).
        y: targets [d] or [d, 1].
        a: the projection [p]. None draws a random direction from `seed` and
            scales it so the smallest gap between sorted projections is `gap`.
            The lemma allows any a with distinct projections; wide gaps keep
            smooLU off its flat e^(−1/z) tail, where A is nearly singular (with
            gap 1 and 10 points m reaches ~10⁴ and the Hessian's smallest
            positive eigenvalue 10⁻⁸ of its largest; gap 5 keeps them ~10² and
            ~10⁻⁵).
        width: hidden width h ≥ d (default d).
        gap: see `a`.
        activation: a rectified activation of the zoo ("smoolu" or "relu").
        seed: seed of the random direction.

    Raises:
        ValueError: for repeated points, projections that coincide, h < d, a
            non-rectified activation, or shapes that do not match.
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.dim() != 2:
        raise ValueError(f"`x` must be [d, p]; got shape {tuple(x.shape)}.")
    d, p = x.shape
    y = y.reshape(-1) if y.dim() == 2 and y.shape[1] == 1 else y
    if y.shape != (d,):
        raise ValueError(f"`y` must be [d] or [d, 1] with d = {d}; got shape {tuple(y.shape)}.")
    if activation not in ("smoolu", "relu"):
        raise ValueError(
            "`activation` must be rectified (σ(z) = 0 for z ≤ 0, Cooper Def. 3.1): "
            f"'smoolu' or 'relu'; got {activation!r}."
        )
    h = d if width is None else int(width)
    if h < d:
        raise ValueError(f"`width` must be at least the number of points d = {d}; got {h}.")
    if a is None:
        gen = torch.Generator().manual_seed(seed)
        a = torch.randn(p, generator=gen, dtype=torch.float64)
        a = a / a.norm()
        proj = torch.sort(x @ a).values
        smallest = float((proj[1:] - proj[:-1]).min()) if d > 1 else 1.0
        if smallest <= 1e-12 * max(1.0, float(proj.abs().max())):
            raise ValueError(
                "two points project to the same value a·x (repeated points, or an unlucky "
                "direction): remove duplicates from `x` or change `seed`."
            )
        a = a * (gap / smallest)
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    if a.shape != (p,):
        raise ValueError(f"`a` must have p = {p} entries; got {tuple(a.shape)}.")
    proj = x @ a
    order = torch.argsort(proj)
    s = proj[order]
    if d > 1 and bool((s[1:] <= s[:-1]).any()):
        raise ValueError("the projections a·x_i must be distinct; choose another `a` or `seed`.")
    prev = torch.cat([s[:1] - 1.0, s[:-1]])  # a·x_0 = a·x_1 − 1
    b = (prev + s) / 2
    sigma = make_activation(activation)
    A = sigma(s[:, None] - b[None, :])
    m = torch.linalg.solve_triangular(torch.tril(A), y[order][:, None], upper=False)[:, 0]
    hidden, out = nn.Linear(p, h).double(), nn.Linear(h, 1).double()
    with torch.no_grad():
        hidden.weight.zero_()
        hidden.bias.zero_()
        out.weight.zero_()
        out.bias.zero_()
        hidden.weight[:d] = a
        hidden.bias[:d] = -b
        out.weight[0, :d] = m
    return ConstructiveNetwork(nn.Sequential(hidden, sigma, out), a, b, m, order, A)
