"""Curvature matrices as linear operators: the Hessian and the gradient covariance.

Every spectral method in `lossatlas.curvature` sees a matrix only through
products with blocks of vectors, `op.matmat(V)` for V of shape [k, n] (rows
are vectors, as everywhere in lossatlas). Three operators are provided:

- `HessianOperator`: H(θ) = ∇²L(θ), each product an exact Hessian–vector
  product (Pearlmutter 1994) from `Objective.hvps`, one data sweep per block;
- `GradientCovariance`: Σ(θ) = (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ, the (uncentred) second
  moment of the per-sample gradients that Ghorbani, Krishnan & Xiao (2019,
  §4; catalogue §5.5) compare with the Hessian's outliers;
- `DenseOperator`: any explicit symmetric matrix (small models, tests).

All count the matrix–vector products they perform (`op.products`), check
that every product is finite, and export to SciPy (`op.to_scipy()`).

References:
    Pearlmutter (1994). Fast exact multiplication by the Hessian.
    Ghorbani, Krishnan, Xiao (2019). An investigation into neural net
    optimization via Hessian eigenvalue density. ICML.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor
from torch.func import grad, vmap

from lossatlas.core import distributed
from lossatlas.core.module_copies import _materialised
from lossatlas.core.objective import Objective

# Per-sample gradients are kept in memory up to this size; beyond it they are
# recomputed in every product (one extra gradient sweep, no memory growth).
COVARIANCE_CACHE_BYTES = 512 * 1024**2
# Dense matrices beyond this many parameters are refused unless asked for.
DENSE_MAX_SIZE = 20_000


class NonFiniteCurvature(ArithmeticError):
    """A curvature product came out NaN or infinite: no estimate built on it can be trusted."""


class CurvatureOperator:
    """A symmetric n×n matrix known through block products (rows are vectors).

    Subclasses implement `_matmat(V [k, n]) -> [k, n]`.
    """

    name = "matrix"

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device):
        if size < 1:
            raise ValueError(
                "the operator has no dimensions: the model has no trainable parameters "
                "(check requires_grad, or that the model was built before being passed)."
            )
        self.size, self.dtype, self.device = size, dtype, device
        self.products = 0

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n): the operator's shape."""
        return (self.size, self.size)

    def _matmat(self, V: Tensor) -> Tensor:
        raise NotImplementedError

    def matmat(self, V: Tensor) -> Tensor:
        """A·vᵢ for each row vᵢ of V [k, n] → [k, n]."""
        if V.dim() != 2 or V.shape[1] != self.size:
            raise ValueError(
                f"expected a block of vectors of shape [k, {self.size}]; got {tuple(V.shape)}."
            )
        V = V.to(device=self.device, dtype=self.dtype)
        out = self._matmat(V)
        self.products += V.shape[0]
        if not torch.isfinite(out).all():
            raise NonFiniteCurvature(
                f"a {self.name}–vector product is not finite. The loss or its derivatives "
                "overflow at this point: check that θ is the intended checkpoint, that the "
                "loss is finite there (Objective.value), or use dtype=torch.float64."
            )
        return out

    def matvec(self, v: Tensor) -> Tensor:
        """A·v for one vector v [n] → [n]."""
        return self.matmat(v.reshape(1, -1))[0]

    def __matmul__(self, v: Tensor) -> Tensor:
        return self.matvec(v) if v.dim() == 1 else self.matmat(v.T).T

    def dense(self) -> Tensor:
        """The full matrix [n, n] from n products (symmetrised); small n only."""
        _check_dense_size(self.size)
        eye = torch.eye(self.size, dtype=self.dtype, device=self.device)
        rows = torch.cat([self.matmat(block) for block in eye.split(64)])
        return (rows + rows.T) / 2

    def to_scipy(self) -> LinearOperator:
        """A `scipy.sparse.linalg.LinearOperator` in float64 over NumPy arrays."""

        def mat(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X)
            one = X.ndim == 1
            block = torch.as_tensor(X.reshape(self.size, -1).T.copy())
            out = self.matmat(block).double().cpu().numpy().T
            return out.reshape(-1) if one else out

        return LinearOperator(
            self.shape, matvec=mat, rmatvec=mat, matmat=mat, rmatmat=mat, dtype=np.float64
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.size}, products={self.products})"


# The kept graph holds every sample's activations twice over (forward and first backward);
# kept by default while samples × parameters stays below this (the paper's FCP and LeNet on
# 4,000 MNIST images: 1.7·10⁸ and 2.5·10⁸), else each product sweeps the data afresh.
KEEP_GRAPH_LIMIT = 5 * 10**8
# The first PROBES blocks of at least PROBE_BLOCK vectors on an objective probe the block
# strategy, alternately (`HessianOperator._probed_products`).
PROBE_BLOCK, PROBES = 4, 4


class HessianOperator(CurvatureOperator):
    """H(θ), the Hessian of the objective's full-data loss at θ.

    The operator lives at one θ, and Lanczos, power iteration, Hutchinson and SLQ
    ask it for one vector after another there, so by default it keeps the graph of
    the full-data gradient ∇L(θ) (built on the first product) and answers each
    product with one more backward through it (reverse-over-reverse, Pearlmutter
    1994): FCP on digits 2.3 ms a product against 6.6 ms for a fresh
    forward-over-reverse sweep, LeNet 44 against 65 ms, the paper's FCP on
    mnist-5k 18 against 59 ms (one thread, 2026-12-04), and faster per vector than
    the vmapped block too. The graph costs memory in proportion to samples ×
    activations: it is kept when `keep_graph` is True, or by default when the data
    is in memory and samples × parameters ≤ `KEEP_GRAPH_LIMIT`; otherwise (or when
    keeping fails, e.g. a double backward an accelerator's RNN kernel lacks) each
    block product is `Objective.hvps`, exact forward-over-reverse over all samples.
    """

    name = "Hessian"

    def __init__(self, obj: Objective, theta: Tensor, keep_graph: bool | None = None):
        super().__init__(obj.size, obj.dtype, obj.device)
        self.obj = obj
        self.theta = obj._checked(theta).detach()
        if keep_graph is None:
            samples = obj.data.num_samples
            keep_graph = (
                not obj.data.streamed
                and samples is not None
                and samples * obj.size <= KEEP_GRAPH_LIMIT
            )
        self.keep_graph = bool(keep_graph)
        self._kept: tuple[list[Tensor], list[Tensor], int] | None = None

    def _matmat(self, V: Tensor) -> Tensor:
        if self.keep_graph:
            if len(V) > 1 and self._block_choice(len(V)) == "vmap":
                return self.obj.hvps(self.theta, V, strategy="vmap")
            first = self._kept is None
            try:
                if first and len(V) >= PROBE_BLOCK and self._vmap_possible() and self._probing():
                    return self._probed_products(V)
                return self._kept_products(V)
            except RuntimeError:
                if not first:
                    raise
                self.keep_graph, self._kept = False, None  # fall back to fresh sweeps
        return self.obj.hvps(self.theta, V)

    # -- the block strategy, from a measured probe --------------------------------------

    def _vmap_possible(self) -> bool:
        obj = self.obj
        return obj._vmap_ok and not obj._batch_statistics and obj.hvp_strategy == "auto"

    def _probing(self) -> bool:
        """Whether blocks still probe: each strategy twice per objective (one warm-up)."""
        return self.obj._block_timing.get("probes", 0) < PROBES

    def _block_choice(self, k: int) -> str:
        """ "vmap" when the objective's probe measured a vmapped block of k as the cheaper.

        The probe's per-vector costs are kept on the objective (they depend on the model,
        data and device, not on θ), so later operators at other θ choose at once:
        kept graph, build (unless built) + k backwards; vmapped, k forward-over-reverse
        products in one sweep.
        """
        timing = self.obj._block_timing
        if timing.get("probes", 0) < PROBES or not self._vmap_possible():
            return "kept"
        kept = k * timing["kept"] + (timing["build"] if self._kept is None else 0.0)
        return "vmap" if k * timing["vmap"] < kept else "kept"

    def _probed_products(self, V: Tensor) -> Tensor:
        """A probe block, the whole of it by the strategy whose turn it is, timed.

        The probes alternate (kept graph, vmapped, kept, vmapped): each strategy is timed
        on whole blocks, since a vmapped block's cost per vector falls with its size, and
        twice, since the first call of each pays one-time costs (LeNet on digits, one
        thread: a first vmapped block of 10 in 2.8 s, a second in 0.30 s). All are
        exact products, so the probe wastes none; it only learns which way this
        objective's blocks are cheaper.
        """
        timing = self.obj._block_timing
        probes = timing.get("probes", 0)
        start = time.perf_counter()
        if probes % 2 == 0:
            self._kept = self._gradient_graph()
            built = time.perf_counter()
            out = self._kept_products(V)
            timing.update(build=built - start, kept=(time.perf_counter() - built) / len(V))
        else:
            out = self.obj.hvps(self.theta, V, strategy="vmap")
            timing["vmap"] = (time.perf_counter() - start) / len(V)
        timing["probes"] = probes + 1
        return out

    def _kept_products(self, V: Tensor) -> Tensor:
        """H·v for each row of V, each one backward through the kept graph of ∇L(θ)."""
        if self._kept is None:
            self._kept = self._gradient_graph()
        params, grads, n = self._kept
        entries = self.obj.space.entries
        # a gradient entry constant in θ (a parameter unused, or entering linearly) has
        # no graph: its Hessian rows are zero, so it is left out of the backward
        live = [i for i, g in enumerate(grads) if g.requires_grad]
        out = torch.zeros_like(V)
        for row, v in zip(out, V, strict=True):
            parts = torch.autograd.grad(
                [grads[i] for i in live], params,
                grad_outputs=[v[entries[i].slice].view(entries[i].shape) for i in live],
                retain_graph=True, allow_unused=True,
            )  # fmt: skip
            for e, part in zip(entries, parts, strict=True):
                if part is not None:
                    row[e.slice] = part.reshape(-1)
        return self.obj.data_mean([out], n)[0]

    def _gradient_graph(self) -> tuple[list[Tensor], list[Tensor], int]:
        """The parameters of a private module copy at θ and the graph of Σᵢ ∇ℓᵢ in them.

        The copy's parameters are real leaves (not views of a flat θ through
        `functional_call`): that graph is smaller and its products 5–15% faster
        (one thread: FCP on digits 2.67 → 2.22 ms, LeNet 37.6 → 35.3 ms).
        """
        obj = self.obj
        module, params = _materialised(obj._module, obj.space, obj.device)
        with torch.no_grad():
            for p, e in zip(params, obj.space.entries, strict=True):
                p.copy_(self.theta[e.slice].view(e.shape))
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():

            def chunk(x: Tensor, y: Tensor) -> tuple[Tensor, ...]:
                loss = obj._loss(module(x), y).sum()
                g = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                pairs = zip(params, g, strict=True)
                return tuple(torch.zeros_like(p) if d is None else d for p, d in pairs)

            parts, n = obj._sweep(chunk, derivative=True)
            grads = [sum(g) if len(g) > 1 else g[0] for g in zip(*parts, strict=True)]
        return params, grads, n


class DenseOperator(CurvatureOperator):
    """An explicit symmetric matrix A [n, n] as an operator."""

    name = "matrix"

    def __init__(self, matrix: Tensor):
        if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"expected a square matrix; got shape {tuple(matrix.shape)}.")
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self.matrix = matrix

    def _matmat(self, V: Tensor) -> Tensor:
        return V @ self.matrix.T

    def dense(self) -> Tensor:
        """The matrix itself."""
        return self.matrix


class GradientCovariance(CurvatureOperator):
    """Σ(θ) = (1/N) Σ_i ∇ℓ_i(θ) ∇ℓ_i(θ)ᵀ over the objective's N samples.

    Per-sample gradients come from `vmap(grad(ℓ))` over each batch (a loop
    over samples for models without a batching rule, such as LSTMs). They are
    kept when they fit in `cache_bytes`, else recomputed in each product.
    Undefined for BatchNorm on batch statistics (mode="train"): there a
    sample's loss depends on the rest of its batch.
    """

    name = "gradient-covariance"

    def __init__(self, obj: Objective, theta: Tensor, cache_bytes: int = COVARIANCE_CACHE_BYTES):
        super().__init__(obj.size, obj.dtype, obj.device)
        if obj._batch_statistics:
            raise ValueError(
                "the gradient covariance needs per-sample losses, but BatchNorm on batch "
                "statistics couples the samples of a batch; use an Objective with mode='eval'."
            )
        self.obj = obj
        self.theta = obj._checked(theta).detach()
        n_samples = obj.data.num_samples
        fits = n_samples is not None and n_samples * obj.size * _itemsize(obj.dtype) <= cache_bytes
        self._cache: list[Tensor] | None = list(self._gradient_blocks()) if fits else None

    def _gradient_blocks(self):
        """Per-sample gradients [B, n], batch by batch."""
        obj, theta = self.obj, self.theta

        def loss_one(t: Tensor, x: Tensor, y: Tensor) -> Tensor:
            return obj.batch_losses(t, x[None], y[None])[0]

        per_sample = grad(loss_one)
        for x, y in obj.batches():
            if obj._vmap_ok:
                try:
                    yield vmap(per_sample, in_dims=(None, 0, 0))(theta, x, y).detach()
                    continue
                except RuntimeError as err:
                    if "Batching rule not implemented" not in str(err):
                        raise
                    obj._vmap_ok = False
            yield torch.stack([per_sample(theta, x[i], y[i]) for i in range(len(x))]).detach()

    def per_sample_gradients(self) -> Tensor:
        """All per-sample gradients [N, n] (memory N·n)."""
        return torch.cat(self._cache if self._cache is not None else list(self._gradient_blocks()))

    def _matmat(self, V: Tensor) -> Tensor:
        total, count = torch.zeros_like(V), 0
        for G in self._cache if self._cache is not None else self._gradient_blocks():
            total += (V @ G.T) @ G  # Σ_i (vᵀg_i) g_iᵀ for every row v of V
            count += G.shape[0]
        return self.obj.data_mean([total], count)[0]  # all processes' samples when sharded

    def trace(self) -> float:
        """tr Σ = (1/N) Σ_i ‖∇ℓ_i‖², exactly."""
        sq, count = torch.zeros((), dtype=torch.float64, device=self.device), 0
        for G in self._cache if self._cache is not None else self._gradient_blocks():
            sq += (G.double() ** 2).sum()
            count += G.shape[0]
        if self.obj.sharded:
            sq = distributed.all_reduce_sum([sq])[0]
            count = distributed.all_reduce_count(count, self.device)
        return float(sq) / count


def hessian_operator(obj: Objective, theta: Tensor) -> HessianOperator:
    """H(θ) of `obj` as an operator (block products by exact HVPs)."""
    return HessianOperator(obj, theta)


def dense_hessian(obj: Objective, theta: Tensor, *, max_size: int = DENSE_MAX_SIZE) -> Tensor:
    """The dense Hessian [n, n] from n exact HVPs in blocks (symmetrised).

    For small models: memory n², cost n HVPs. `max_size` guards against
    asking for 10⁵×10⁵ by mistake.
    """
    _check_dense_size(obj.size, max_size)
    return HessianOperator(obj, theta).dense()


OPERATORS = ("hessian", "ggn", "fisher")


def as_operator(
    obj: Any, theta: Tensor | None = None, operator: str = "hessian"
) -> CurvatureOperator:
    """An operator from an Objective and θ, an operator, or a matrix.

    With an Objective, `operator` chooses the matrix at θ: "hessian" (H, exact HVPs),
    "ggn" (the generalised Gauss–Newton matrix, `GGNOperator`) or "fisher" (the
    empirical Fisher (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ, `GradientCovariance`).
    """
    if operator not in OPERATORS:
        raise ValueError(f"`operator` must be one of {', '.join(OPERATORS)}; got {operator!r}.")
    if isinstance(obj, CurvatureOperator):
        return obj
    if isinstance(obj, Objective):
        if theta is None:
            raise TypeError("pass θ with an Objective: f(obj, theta, ...).")
        if operator == "ggn":
            from lossatlas.curvature.ggn import GGNOperator

            return GGNOperator(obj, theta)
        if operator == "fisher":
            return GradientCovariance(obj, theta)
        return HessianOperator(obj, theta)
    if isinstance(obj, Tensor):
        return DenseOperator(obj)
    raise TypeError(
        "expected an Objective (with θ), a CurvatureOperator or a square tensor; "
        f"got {type(obj).__name__}."
    )


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size()


def _check_dense_size(n: int, max_size: int = DENSE_MAX_SIZE) -> None:
    if n > max_size:
        gib = n * n * 8 / 1024**3
        raise ValueError(
            f"a dense {n}×{n} matrix ({gib:.1f} GiB in float64) is beyond max_size={max_size}; "
            "use the iterative estimators, or raise max_size deliberately."
        )


def rademacher(k: int, n: int, seed: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """[k, n] independent ±1 entries, reproducible from `seed` on any device."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (k, n), generator=g) * 2 - 1).to(device=device, dtype=dtype)


def gaussian(k: int, n: int, seed: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """[k, n] independent N(0, 1) entries, reproducible from `seed` on any device."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


def quadratic_forms(op: CurvatureOperator, V: Tensor, block: int) -> Tensor:
    """vᵢᵀ A vᵢ for each row of V [k, n] → [k], in block products of `block` rows.

    With the rows of the identity these are A's diagonal entries (the exact trace and
    diagonal); with random rows, Hutchinson's samples.
    """
    return torch.cat([(b * op.matmat(b)).sum(1) for b in V.split(block)])


def unit_rows(V: Tensor) -> Tensor:
    """Each row scaled to norm 1."""
    return V / V.norm(dim=1, keepdim=True).clamp_min(math.ulp(1.0))
