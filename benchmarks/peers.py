"""lossatlas against the released peers, side by side in one process (issue 20).

The peers are the packages as released, installed by `bash benchmarks/install_peers.sh`:
`pip install -e '.[bench]'` (which pins torch==2.13.0 beside them) for pyhessian 0.1,
curvlinops-for-pytorch 3.0.1, hessian-eigenthings 1.0.0a5 and loss-landscapes 3.0.6,
and landscaper 1.3.1 without its dependencies' pins (as shipped, topopy's
`numpy<2` makes pip downgrade NumPy to 1.26 and break mlxtend and zarr); the
landscape rows are skipped when landscaper is missing.

Same model, data, vectors, directions and seeds; one torch thread; min–median of
`--repeats` paired runs (heavy rows once). Every row prints both times, the
ratio peer / lossatlas (> 1: lossatlas is faster), the products or points, and
how far the values agree; the ratio is refused when they disagree (products,
planes) or when lossatlas is the less accurate (estimators, against an exact
reference). Estimators are compared at equal accuracy: each side runs the
cheapest setting of a ladder (lossatlas's tolerance, the peer's step count) whose
error against a float64 reference meets the row's target.

Rows: one HVP (graph kept by both), ten sequential HVPs with the graph build, a
block of HVPs (curvlinops' `@ matrix`), λ_max to 1e-6, top-10 to 1e-4, Hutch++
trace at 99 products, SLQ density 10 × 90 at equal L1, a 25 × 25 filter-
normalised plane, a 15³ landscape along the top-3 eigenvectors. Cases: the FCP
and LeNet on digits and on mnist-5k, ResNet-20 on 256 random CIFAR-shaped images.

    .venv/bin/python benchmarks/peers.py [--cases digits/fcp ...] [--rows hvp plane ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from lossatlas import Objective, curvature, surface, zoo
from lossatlas.curvature.density import exact_density, l1_distance, smoothed
from lossatlas.curvature.operators import HessianOperator
from lossatlas.surface.landscape import landscape

os.environ.setdefault("TQDM_DISABLE", "1")  # landscaper's progress bars

ROWS = ("hvp", "ten", "block", "top1", "top10", "trace", "density", "plane", "landscape")
# Rows per case: the reference-heavy ones (dense Hessians, float64 spectra) on small cases.
CASE_ROWS = {
    "digits/fcp": ROWS,
    "digits/lenet": ("hvp", "ten", "block", "top1", "top10", "plane", "landscape"),
    "mnist-5k/fcp": ("hvp", "ten", "block", "top1", "plane"),
    "mnist-5k/lenet": ("hvp", "block", "plane"),
    "resnet20/cifar": ("hvp", "block"),
}
TOP1_TARGET, TOP10_TARGET = 1e-6, 1e-4  # relative eigenvalue error asked of both sides


@dataclass
class Case:
    name: str
    net: nn.Module
    x: Tensor
    y: Tensor
    obj: Objective
    theta: Tensor
    params: list[nn.Parameter]
    criterion: nn.Module
    reference: Objective | None = None  # float64, for the estimators' errors

    @property
    def exact(self) -> Objective:
        if self.reference is None:
            self.reference = Objective(self.net, (self.x, self.y), dtype=torch.float64)
        return self.reference


def make_case(name: str) -> Case:
    if name == "resnet20/cifar":
        g = torch.Generator().manual_seed(0)
        x = torch.randn(256, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (256,), generator=g)
        net = zoo.build("resnet20", seed=0) if _takes_seed() else zoo.build("resnet20")
    else:
        data, model = name.split("/")
        split = zoo.dataset(data)
        net = zoo.build_for(model, split, seed=0)
        x, y = split.train
    net.eval()  # BatchNorm on its running statistics, as Objective's default mode
    obj = Objective(net, (x, y), loss="cross_entropy")
    params = [p for p in net.parameters() if p.requires_grad]
    return Case(name, net, x, y, obj, obj.point(), params, nn.CrossEntropyLoss())


def _takes_seed() -> bool:
    try:
        zoo.build("resnet20", seed=0)
        return True
    except TypeError:
        return False


# -- timing and printing ---------------------------------------------------------------


def _times(f: Callable[[], object], repeats: int) -> tuple[float, float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        out.append(time.perf_counter() - start)
    return min(out), statistics.median(out)


def _timed(f: Callable[[], object]) -> tuple[object, tuple[float, float]]:
    """f's result and its time of this one run, as (min, median) of one."""
    start = time.perf_counter()
    out = f()
    t = time.perf_counter() - start
    return out, (t, t)


def _row(measure, case, peer, t_peer, t_ours, ok: bool, detail: str, why: str = "") -> None:
    ratio = (
        f"{t_peer[0] / t_ours[0]:5.2f}–{t_peer[1] / t_ours[1]:4.2f}"
        if ok
        else f"no ratio ({why or 'values disagree'})"
    )
    print(
        f"{measure:24s} {case:15s} {peer:26s} peer {_ms(t_peer[0])}  lossatlas {_ms(t_ours[0])}"
        f"  peer/lossatlas {ratio}  [{detail}]",
        flush=True,
    )


def _ms(t: float) -> str:
    return f"{1e3 * t:9.2f} ms" if t < 10 else f"{t:8.2f} s "


def _flat(tensors) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _split(v: Tensor, params: list[nn.Parameter]) -> list[Tensor]:
    out, i = [], 0
    for p in params:
        out.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _pyhessian(c: Case):
    """A pyhessian `hessian` at θ on the whole training set as one batch.

    Its constructor calls `loss.backward(create_graph=True)`, which adds to every
    `p.grad`: a second object built on the same model would hold the sum of both
    graphs (twice the Hessian, and twice the work). The grads are cleared first.
    """
    from pyhessian import hessian as PyHessian

    for p in c.params:
        p.grad = None
    return _quiet(lambda: PyHessian(c.net, c.criterion, data=(c.x, c.y), cuda=False))


def _quiet(f: Callable[[], object]) -> object:
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        return f()


# -- products --------------------------------------------------------------------------


def row_hvp(c: Case, repeats: int, agree: float) -> None:
    """One HVP at θ, the first-order graph kept by both (pyhessian's one-batch mode)."""
    from pyhessian.utils import hessian_vector_product

    v = torch.randn(c.obj.size, generator=torch.Generator().manual_seed(0))
    peer = _pyhessian(c)
    vs = _split(v, c.params)
    ours = HessianOperator(c.obj, c.theta, keep_graph=True)
    d = _rel(_flat(hessian_vector_product(peer.gradsH, peer.params, vs)), ours.matvec(v))
    _row("one HVP (graph kept)", c.name, "pyhessian 0.1",
         _times(lambda: hessian_vector_product(peer.gradsH, peer.params, vs), repeats),
         _times(lambda: ours.matvec(v), repeats), d <= agree, f"rel. diff {d:.1e}")  # fmt: skip


def row_ten(c: Case, repeats: int, agree: float) -> None:
    """Ten sequential HVPs at one θ, each side's graph build included."""
    from pyhessian.utils import hessian_vector_product

    V = torch.randn(10, c.obj.size, generator=torch.Generator().manual_seed(1))

    def peer_ten():
        h = _pyhessian(c)
        return torch.stack(
            [_flat(hessian_vector_product(h.gradsH, h.params, _split(r, c.params))) for r in V]
        )

    def ours_ten():
        op = HessianOperator(c.obj, c.theta, keep_graph=True)
        return torch.stack([op.matvec(r) for r in V])

    d = _rel(peer_ten(), ours_ten())
    _row("10 sequential HVPs+graph", c.name, "pyhessian 0.1", _times(peer_ten, repeats),
         _times(ours_ten, repeats), d <= agree, f"rel. diff {d:.1e}")  # fmt: skip


def row_block(c: Case, repeats: int, agree: float) -> None:
    """A block of HVPs at a new θ: curvlinops' `HessianLinearOperator @ M`."""
    from curvlinops import HessianLinearOperator

    k = 4 if c.name.startswith("resnet") else 10
    V = torch.randn(k, c.obj.size, generator=torch.Generator().manual_seed(2))
    lin = HessianLinearOperator(
        c.net, c.criterion, c.params, [(c.x, c.y)], check_deterministic=False
    )
    M = V.T.contiguous()

    def ours():
        return HessianOperator(c.obj, c.theta).matmat(V)

    d = _rel((lin @ M).T, ours())
    _row(f"block of {k} HVPs", c.name, "curvlinops 3.0.1", _times(lambda: lin @ M, repeats),
         _times(ours, repeats), d <= agree, f"rel. diff {d:.1e}")  # fmt: skip


# -- eigenvalues -----------------------------------------------------------------------


def _reference_top(c: Case, k: int) -> np.ndarray:
    res = curvature.top_eigenvalues(c.exact, c.theta.double(), k=k, tol=1e-10)
    return np.asarray(res.eigenvalues, dtype=np.float64)


def _cheapest(ladder, run: Callable, error: Callable, target: float):
    """The first setting of `ladder` whose result meets `target`, else the most accurate one."""
    tried = []
    for setting in ladder:
        result = run(setting)
        tried.append((error(result), setting, result))
        if tried[-1][0] <= target:
            break
    e, setting, result = min(tried, key=lambda t: t[0]) if tried[-1][0] > target else tried[-1]
    return setting, result, e


def row_top(c: Case, k: int, repeats: int) -> None:
    """Top-k eigenvalues at equal accuracy: each side's cheapest setting reaching the target."""
    import hessian_eigenthings as he

    target = TOP1_TARGET if k == 1 else TOP10_TARGET
    ref = _reference_top(c, k)

    def err(values) -> float:
        got = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))[::-1][:k]
        return float(np.max(np.abs(got - ref) / np.abs(ref))) if len(got) == k else math.inf

    def ours(tol):
        return curvature.top_eigenvalues(c.obj, c.theta, k=k, tol=tol)

    tol, res, e_ours = _cheapest(
        (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5),
        ours, lambda r: err(r.eigenvalues), target,
    )  # fmt: skip

    def loss_fn(model, batch):
        return c.criterion(model(batch[0]), batch[1])

    op = he.HessianOperator(c.net, [(c.x, c.y)], loss_fn)

    def peer(steps):
        return he.lanczos(op, k=k, max_iter=steps, which="LA", seed=0)

    ladder = [s for s in (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 80) if s > k]
    steps, _, e_peer = _cheapest(
        ladder, peer, lambda r: err(torch.as_tensor(r.eigenvalues)), target
    )
    ok = e_ours <= max(target, e_peer)
    _row(f"top-{k} to {target:.0e}", c.name, "hessian-eigenthings",
         _times(lambda: peer(steps), repeats), _times(lambda: ours(tol), repeats), ok,
         f"errors: peer {e_peer:.1e} ({steps} steps), lossatlas {e_ours:.1e} "
         f"(tol {tol:.0e}, {res.products} products)", "lossatlas less accurate")  # fmt: skip
    if k == 10:
        _top10_eigsh(c, ref, err, target, repeats, (tol, res, e_ours))
    else:
        _top1_pyhessian(c, err, repeats)


def _top10_eigsh(c: Case, ref, err, target, repeats, ours_best) -> None:
    """curvlinops' operator handed to SciPy's ARPACK (its documented route to eigenvalues)."""
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import eigsh

    lin = HessianLinearOperator(
        c.net, c.criterion, c.params, [(c.x, c.y)], check_deterministic=False
    ).to_scipy()
    v0 = np.random.default_rng(0).standard_normal(c.obj.size)

    def peer(tol):
        return eigsh(lin, k=10, which="LA", tol=tol, v0=v0, return_eigenvectors=False)

    tol_p, _, e_peer = _cheapest((1e-2, 1e-3, 1e-4, 1e-6), peer, err, target)
    tol, _, e_ours = ours_best
    _row("top-10 to 1e-04", c.name, "curvlinops + eigsh",
         _times(lambda: peer(tol_p), repeats),
         _times(lambda: curvature.top_eigenvalues(c.obj, c.theta, k=10, tol=tol), repeats),
         e_ours <= max(target, e_peer), f"errors: peer {e_peer:.1e} (ARPACK tol {tol_p:.0e}), "
         f"lossatlas {e_ours:.1e}", "lossatlas less accurate")  # fmt: skip


def _top1_pyhessian(c: Case, err, repeats) -> None:
    """pyhessian's power iteration as shipped (tol 1e-3 on successive values), against
    lossatlas at the peer's own accuracy (the cheapest tolerance whose error is no worse)."""
    h = _pyhessian(c)

    def peer():
        torch.manual_seed(0)
        return _quiet(lambda: h.eigenvalues(top_n=1))[0]

    e_peer = err(peer())

    def ours(tol):
        return curvature.top_eigenvalues(c.obj, c.theta, k=1, tol=tol)

    tol, res, e_ours = _cheapest(
        (1e-1, 3e-2, 1e-2, 3e-3, 1e-3), ours, lambda r: err(r.eigenvalues), e_peer
    )
    _row("λ_max at pyhessian's error", c.name, "pyhessian 0.1", _times(peer, repeats),
         _times(lambda: ours(tol), repeats), e_ours <= e_peer,
         f"errors: peer {e_peer:.1e} (power iteration, its defaults), lossatlas {e_ours:.1e} "
         f"(tol {tol:.0e}, {res.products} products)", "lossatlas less accurate")  # fmt: skip


# -- trace and density (exact references from the dense Hessian) ----------------------


_DENSE: dict[str, Tensor] = {}


def _dense(c: Case) -> Tensor:
    if c.name not in _DENSE:
        _DENSE[c.name] = curvature.dense_hessian(c.exact, c.theta.double())
    return _DENSE[c.name]


def row_trace(c: Case, repeats: int) -> None:
    """Hutch++ at 99 products, worst error over 10 seeds against the exact trace."""
    from curvlinops import HessianLinearOperator, hutchpp_trace

    exact = float(torch.diagonal(_dense(c)).sum())
    lin = HessianLinearOperator(
        c.net, c.criterion, c.params, [(c.x, c.y)], check_deterministic=False
    )

    def peer(seed):
        torch.manual_seed(seed)
        return float(hutchpp_trace(lin, num_matvecs=99))

    def ours(seed):
        return curvature.trace(c.obj, c.theta, method="hutch++", samples=99, seed=seed).estimate

    e_peer = max(abs(peer(s) - exact) / abs(exact) for s in range(10))
    e_ours = max(abs(ours(s) - exact) / abs(exact) for s in range(10))
    _row("trace, Hutch++ 99 products", c.name, "curvlinops hutchpp_trace",
         _times(lambda: peer(0), repeats), _times(lambda: ours(0), repeats),
         e_ours <= 1.25 * e_peer, f"worst error of 10 seeds: peer {100 * e_peer:.2f}%, "
         f"lossatlas {100 * e_ours:.2f}%", "lossatlas less accurate")  # fmt: skip


def row_density(c: Case, repeats: int) -> None:
    """SLQ, 10 draws × 90 steps, L1 against the exact smoothed density (same σ and grid).

    pyhessian 0.1's `density` calls `torch.eig`, removed from torch: as shipped it
    raises; patched with the one line below (torch.linalg.eigh), it runs.
    """
    lam = torch.linalg.eigvalsh(_dense(c))
    lo, hi = float(lam.min()), float(lam.max())
    pad = 0.05 * (hi - lo)
    t = np.linspace(lo - pad, hi + pad, 1000)
    sigma = 0.01 * (hi - lo)
    reference = exact_density(lam, t, sigma)
    h = _pyhessian(c)
    try:
        _quiet(lambda: h.density(iter=5, n_v=1))
        shipped = "runs as shipped"
    except (AttributeError, RuntimeError) as err:
        shipped = f"as shipped: {type(err).__name__}: {str(err)[:60]}"
        torch.eig = lambda T, eigenvectors=False: (  # the one-line patch
            torch.stack([torch.linalg.eigh(T)[0], torch.zeros(len(T))], 1),
            torch.linalg.eigh(T)[1],
        )

    def peer():
        torch.manual_seed(0)
        return _quiet(lambda: h.density(iter=90, n_v=10))

    def ours(draws: int = 10, steps: int = 90):
        return curvature.density(
            c.obj, c.theta, draws=draws, steps=steps, sigma=sigma, grid=t, progress=False
        )

    nodes, weights = peer()
    phi = smoothed(t, np.asarray(nodes), np.asarray(weights) / len(nodes), sigma)
    l1_peer = float(np.trapezoid(np.abs(phi - reference), t))
    same = l1_distance(ours(), reference)
    _row("SLQ density 10 × 90", c.name, "pyhessian 0.1 (patched)", _times(peer, repeats),
         _times(ours, repeats), same <= 1.25 * l1_peer,
         f"900 products each; L1: peer {l1_peer:.4f}, lossatlas {same:.4f}; pyhessian {shipped}",
         "lossatlas less accurate")  # fmt: skip
    # at equal L1: the cheapest (draws, steps) whose L1 is no worse than the peer's 10 × 90
    ladder = sorted(((k, m) for k in (3, 4, 5, 6, 8, 10) for m in (20, 30, 45, 60, 90)),
                    key=lambda km: km[0] * km[1])  # fmt: skip
    (k, m), _, l1 = _cheapest(
        ladder, lambda km: ours(*km), lambda d: l1_distance(d, reference), l1_peer
    )
    _row("SLQ density, equal L1", c.name, "pyhessian 0.1 (patched)", _times(peer, repeats),
         _times(lambda: ours(k, m), repeats), l1 <= l1_peer,
         f"L1: peer {l1_peer:.4f} (10 × 90), lossatlas {l1:.4f} ({k} × {m} = {k * m} "
         "products)", "lossatlas less accurate")  # fmt: skip


# -- planes and landscapes -------------------------------------------------------------


def row_plane(c: Case, repeats: int, agree: float) -> None:
    """A 25 × 25 filter-normalised random plane: loss-landscapes' `random_plane`.

    Its directions are rebuilt here with its own functions from the same seed, and
    lossatlas evaluates the same points. loss-landscapes walks the odd rows back
    with in-place steps and stores them one β-step off (its defect): the values
    are compared on the even rows, and the odd rows' error is printed.
    """
    import loss_landscapes as ll
    from loss_landscapes.metrics import Loss
    from loss_landscapes.model_interface.model_parameters import orthogonal_to, rand_u_like
    from loss_landscapes.model_interface.model_wrapper import wrap_model

    steps, distance = 25, 1.0
    metric = Loss(c.criterion, c.x, c.y)

    def peer():
        torch.manual_seed(0)
        return ll.random_plane(c.net, metric, distance=distance, steps=steps,
                               normalization="filter", deepcopy_model=True)  # fmt: skip

    torch.manual_seed(0)  # the peer's own recipe, to give lossatlas the same plane
    start = wrap_model(c.net).get_module_parameters()
    d1 = rand_u_like(start)
    d2 = orthogonal_to(d1)
    d1.filter_normalize_(start)
    d2.filter_normalize_(start)
    d1.mul_(((start.model_norm() / distance) / steps) / d1.model_norm())
    d2.mul_(((start.model_norm() / distance) / steps) / d2.model_norm())
    flat = [_flat(p.parameters) for p in (start, d1, d2)]
    origin = flat[0] - steps / 2 * flat[1] - steps / 2 * flat[2]

    def ours():
        return surface.plane(c.obj, origin, flat[1], flat[2], grid=(steps, steps),
                             span=((0, steps - 1), (1, steps)), progress=False,
                             accuracy=False)  # fmt: skip

    (a, t_peer), (b, t_ours) = _timed(peer), _timed(ours)
    a, b = np.asarray(a), b["loss"].values
    even = float(np.max(np.abs(a[0::2] - b[0::2]) / np.abs(b[0::2])))
    odd = float(np.max(np.abs(a[1::2] - b[1::2])))
    if not c.name.startswith("mnist-5k/lenet"):  # minutes a plane there: the one run only
        t_peer, t_ours = _times(peer, repeats), _times(ours, repeats)
    _row("25 × 25 plane", c.name, "loss-landscapes 3.0.6", t_peer, t_ours, even <= agree,
         f"625 points; even rows rel. diff {even:.1e}; "
         f"peer's odd rows off one β-step: error up to {odd:.2g}")  # fmt: skip


def row_landscape(c: Case, repeats: int, agree: float) -> None:
    """A 15³ landscape along the top-3 Hessian eigenvectors: landscaper's compute."""
    try:
        from landscaper.compute import compute_loss_landscape, get_model_norm, normalize_direction
    except ImportError:
        print(f"{'15³ landscape':24s} {c.name:15s} landscaper not installed: skipped")
        return
    steps, distance = 15, 0.5
    vecs = curvature.top_eigenvalues(c.obj, c.theta, k=3).eigenvectors
    dirs = [_split(v.clone(), c.params) for v in vecs]

    def scalar(model, data):
        with torch.no_grad():
            return float(c.criterion(model(data[0]), data[1]))

    def peer():
        return _quiet(lambda: compute_loss_landscape(
            c.net, (c.x, c.y), [[d.clone() for d in dd] for dd in dirs], scalar, steps=steps,
            distance=distance, dim=3, device="cpu"))[0]  # fmt: skip

    start = [p.detach() for p in c.params]  # the same scaling of the directions as the peer's
    scaled = []
    for dd in dirs:
        d = normalize_direction([x.clone() for x in dd], start)
        scale = (get_model_norm(start) * distance / (steps / 2)) / get_model_norm(d)
        scaled.append(_flat(d) * scale)
    D = torch.stack(scaled)
    half = steps // 2

    def ours():
        return landscape(c.obj, c.theta, D, steps=steps, span=(-half, half),
                                 progress=False, accuracy=False)  # fmt: skip

    (a, t_peer), (b, t_ours) = _timed(peer), _timed(ours)  # one run each: tens of seconds
    b = b["loss"].values
    keep = a != a.max()  # the peer adds noise to its maximum
    d = float(np.max(np.abs(a[keep] - b[keep]) / np.abs(b[keep])))
    _row("15³ landscape, top-3", c.name, "landscaper 1.3.1", t_peer, t_ours,
         d <= agree, f"3,375 points; rel. diff {d:.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASE_ROWS), choices=list(CASE_ROWS))
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agree", type=float, default=1e-4, help="largest relative difference")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread; {time.strftime('%Y-%m-%d %H:%M')}")
    for name in args.cases:
        c = make_case(name)
        print(f"-- {name}: {c.obj.size:,} parameters, {len(c.x):,} samples", flush=True)
        for row in (r for r in args.rows if r in CASE_ROWS[name]):
            if row in ("top1", "top10"):
                row_top(c, 1 if row == "top1" else 10, args.repeats)
            elif row in ("trace", "density"):
                (row_trace if row == "trace" else row_density)(c, args.repeats)
            else:
                globals()[f"row_{row}"](c, args.repeats, args.agree)


if __name__ == "__main__":
    main()
