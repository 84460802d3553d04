"""Merge trees and persistence against analytic landscapes, a brute-force reference and gudhi."""

import heapq
import itertools

import numpy as np
import pytest
import torch
import xarray as xr

from lossatlas import zoo
from lossatlas.surface.landscape import landscape
from lossatlas.topology import bottleneck_distance, merge_tree, summary

# A 1-D profile g with extrema exactly at the knots: minima 0, −1, 0.5, −0.5 at x = 0..3,
# maxima 2, 1.5, 3 between them and walls of 4 at the ends. By the elder rule the pairs are
# (−1, ∞), (−0.5, 3) [its barrier towards −1 is the 3 at x = 2.5], (0, 2), (0.5, 1.5).
KNOTS = np.arange(-0.5, 3.51, 0.5)
HEIGHTS = np.array([4.0, 0.0, 2.0, -1.0, 1.5, 0.5, 3.0, -0.5, 4.0])
EXPECTED = {  # minimum x: (birth, persistence, x of the saddle, x of the elder minimum)
    1.0: (-1.0, np.inf, None, None),
    3.0: (-0.5, 3.5, 2.5, 1.0),
    0.0: (0.0, 2.0, 0.5, 1.0),
    2.0: (0.5, 1.0, 1.5, 1.0),
}


def profile(x: np.ndarray) -> np.ndarray:
    """Cosine interpolation between the knots: C¹, extrema exactly at the knots."""
    j = np.clip(np.searchsorted(KNOTS, x, side="right") - 1, 0, len(KNOTS) - 2)
    t = (x - KNOTS[j]) / (KNOTS[j + 1] - KNOTS[j])
    return HEIGHTS[j] + (HEIGHTS[j + 1] - HEIGHTS[j]) * (1 - np.cos(np.pi * t)) / 2


def wells(dims: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """f(x) = g(x_0) + Σ_{i>0} x_i² on a grid that holds every knot and x_i = 0."""
    axes = [np.linspace(-0.5, 3.5, 33)] + [np.linspace(-1, 1, 5)] * (dims - 1)
    mesh = np.meshgrid(*axes, indexing="ij")
    return profile(mesh[0]) + sum(m**2 for m in mesh[1:]), axes


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_known_minima_give_exactly_their_basins_and_barriers(dims):
    values, axes = wells(dims)
    tree = merge_tree(values)
    assert tree.num_basins(0.5) == 4 and tree.num_basins(1.2) == 3 and tree.num_basins(10) == 1
    centre = tuple(2 for _ in range(dims - 1))  # x_i = 0 for i > 0
    x0 = axes[0]
    for leaf, flat in enumerate(tree.minima):
        cell = tree.cell(flat)
        assert cell[1:] == centre
        birth, persistence, saddle_x, elder_x = EXPECTED[float(x0[cell[0]])]
        assert tree.birth[leaf] == birth and tree.persistence[leaf] == persistence
        if saddle_x is None:
            assert tree.saddle[leaf] == -1 and tree.elder[leaf] == -1
        else:
            assert tree.cell(tree.saddle[leaf]) == (int(np.flatnonzero(x0 == saddle_x)[0]), *centre)
            assert float(x0[tree.cell(tree.minima[tree.elder[leaf]])[0]]) == elder_x
    assert tree.total_persistence() == pytest.approx(1.0 + 2.0 + 3.5, abs=1e-12)
    assert tree.total_persistence(2) == pytest.approx(1.0 + 4.0 + 12.25, abs=1e-12)
    # basin labels: steepest descent, then the shallow basin (x = 2, persistence 1) joins −1's
    labels = tree.basin_labels(1.2)
    along = labels[(slice(None), *centre)]
    assert along[np.searchsorted(x0, 2.0)] == along[np.searchsorted(x0, 1.0)] == 0
    assert len(np.unique(labels)) == 3 and len(np.unique(tree.basin_labels(0.0))) == 4


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_the_merge_tree_of_a_quadratic_has_one_leaf(dims):
    axes = [np.linspace(-1, 1.5, 7 - dims)] * dims
    mesh = np.meshgrid(*axes, indexing="ij")
    values = sum(
        (k + 1) * (m - 0.2 * k) ** 2 for k, m in enumerate(mesh)
    )  # off-centre, anisotropic
    tree = merge_tree(values)
    assert tree.num_leaves == 1 and tree.merges() == []
    assert np.isinf(tree.death[0]) and tree.birth[0] == values.min()
    assert tree.total_persistence() == 0.0 and (tree.basin_labels() == 0).all()


def axis_neighbours(shape: tuple[int, ...], i: int) -> list[int]:
    """Flat indices of the cells one step from flat cell i along one axis."""
    cell = np.unravel_index(i, shape)
    out = []
    for axis in range(len(shape)):
        for step in (-1, 1):
            c = list(cell)
            c[axis] += step
            if 0 <= c[axis] < shape[axis]:
                out.append(int(np.ravel_multi_index(c, shape)))
    return out


def minimax_deaths(values: np.ndarray) -> dict[int, float]:
    """Brute force: each grid minimum's death is the lowest possible maximum of f along a
    path to any older cell (one lower in (f, index) order); Dijkstra on max instead of +."""
    flat = values.ravel()
    key = {i: (flat[i], i) for i in range(flat.size) if np.isfinite(flat[i])}

    def neighbours(i):
        return [j for j in axis_neighbours(values.shape, i) if j in key]

    minima = [i for i in key if all(key[j] > key[i] for j in neighbours(i))]
    deaths = {}
    for m in minima:
        best = {m: flat[m]}
        heap = [(flat[m], m)]
        deaths[m] = np.inf
        while heap:
            level, i = heapq.heappop(heap)
            if key[i] < key[m]:
                deaths[m] = level
                break
            for j in neighbours(i):
                through = max(level, flat[j])
                if through < best.get(j, np.inf):
                    best[j] = through
                    heapq.heappush(heap, (through, j))
    return deaths


def descend(values: np.ndarray, start: int) -> int:
    """Follow the lowest lower neighbour (in (f, index) order) to a minimum."""
    flat = values.ravel()
    i = start
    while True:
        options = [(flat[i], i)]
        options += [(flat[j], j) for j in axis_neighbours(values.shape, i) if np.isfinite(flat[j])]
        nxt = min(options)[1]
        if nxt == i:
            return i
        i = nxt


@pytest.mark.parametrize(
    "shape, holes, seed",
    [((40,), 0, 0), ((9, 8), 0, 1), ((9, 8), 12, 2), ((5, 4, 6), 15, 3), ((3, 4, 3, 4), 10, 4)],
)
def test_pairs_and_basins_equal_a_brute_force_reference(shape, holes, seed):
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=shape), 1)  # rounding makes ties
    values.ravel()[rng.choice(values.size, holes, replace=False)] = np.nan
    tree = merge_tree(values)
    deaths = minimax_deaths(values)
    assert sorted(tree.minima.tolist()) == sorted(deaths)
    for leaf, m in enumerate(tree.minima.tolist()):
        assert tree.death[leaf] == deaths[m] and tree.birth[leaf] == values.ravel()[m]
    flat_labels = tree.descent.ravel()
    for i in range(values.size):
        if np.isnan(values.ravel()[i]):
            assert flat_labels[i] == -1
        else:
            assert tree.minima[flat_labels[i]] == descend(values, i)


@pytest.mark.parametrize("shape", [(50,), (12, 11), (6, 7, 5), (4, 5, 3, 4)])
def test_pairs_equal_gudhi_cubical_persistence(shape):
    import gudhi  # a dev dependency (pyproject.toml)

    rng = np.random.default_rng(len(shape))
    values = np.round(rng.normal(size=shape), 1)
    values.ravel()[rng.choice(values.size, values.size // 10, replace=False)] = np.nan
    tree = merge_tree(values)
    # gudhi's vertex filtration joins axis neighbours (2N connectivity), as ours;
    # a NaN hole is a vertex that enters at +∞
    cc = gudhi.CubicalComplex(vertices=np.where(np.isnan(values), np.inf, values))
    cc.compute_persistence(min_persistence=-1)
    theirs = cc.persistence_intervals_in_dimension(0)
    theirs = theirs[np.isfinite(theirs[:, 0]) & (theirs[:, 1] > theirs[:, 0])]
    ours = tree.pairs[tree.persistence > 0]
    order = lambda d: d[np.lexsort((d[:, 1], d[:, 0]))]  # noqa: E731
    assert np.array_equal(order(ours), order(theirs))


def test_nan_cells_are_holes_that_separate_basins():
    values = np.array([[0.0, 1.0, np.nan, 2.0, 0.5]])
    tree = merge_tree(values)
    assert tree.pairs.tolist() == [[0.0, np.inf], [0.5, np.inf]]
    assert tree.descent.tolist() == [[0, 0, -1, 1, 1]]
    assert tree.num_basins(100.0) == 2  # never merging is infinite persistence
    with pytest.raises(ValueError, match="`values` must be a non-empty grid of 1 to 8"):
        merge_tree(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="`threshold` must be a finite number ≥ 0"):
        tree.num_basins(-1)
    with pytest.raises(ValueError, match="`p` must be > 0"):
        tree.total_persistence(0)


def _grid_resolution(name, cells, point):
    """How much E varies over the grid cells around a critical point: the error a grid
    of that spacing can make in its value."""
    surface = zoo.landscape(name)
    a, b = cells
    i = np.clip(np.searchsorted(a, point[0]) - 1, 0, len(a) - 2)
    j = np.clip(np.searchsorted(b, point[1]) - 1, 0, len(b) - 2)
    corners = torch.tensor([[a[i + p], b[j + q]] for p in range(2) for q in range(2)])
    exact = surface.energy(torch.as_tensor(point))
    return float((surface.energy(corners) - exact).abs().max())


@pytest.mark.parametrize(
    "name, minima, barriers",
    [
        # Müller–Brown (minima m0..m2 at −146.70, −108.17, −80.77; saddles s0 −40.66,
        # s1 −72.25): m2 reaches m1 over s1, then m1 reaches m0 over s0
        ("muller-brown", 3, [(1, 2), (0, 1)]),
        # Himmelblau: four equal minima (E = 0) joined over s2 (13.31), s0 (67.72) and
        # s1 (104.02); the fourth saddle (178.34) closes a loop around the maximum
        ("himmelblau", 4, [(2, 3), (0, 1), (1, 2)]),
    ],
)
def test_zoo_landscapes_have_their_known_basins(name, minima, barriers):
    surface = zoo.landscape(name)
    obj = zoo.landscape_objective(name)
    eye = torch.eye(2, dtype=torch.float64)
    ds = landscape(
        obj,
        torch.zeros(2, dtype=torch.float64),
        eye,
        161,
        surface.bounds,
        chunk=4096,
        progress=False,
    )
    tree, summ = summary(ds)
    assert summ.attrs["num_basins"] == minima == tree.num_basins(1.0)
    cells = (ds.d0.values, ds.d1.values)
    # every known minimum holds one persistent grid minimum
    found = set()
    for leaf in np.flatnonzero(tree.persistence > 1.0):
        at = np.array([cells[k][c] for k, c in enumerate(tree.cell(tree.minima[leaf]))])
        found.add(int(np.argmin(np.linalg.norm(surface.minima.numpy() - at, axis=1))))
    assert found == set(range(minima))
    # persistences: saddle energy − minimum energy, to the grid's resolution there
    e_min = surface.energy(surface.minima).numpy()
    e_saddle = surface.energy(surface.saddles).numpy()
    worst_minimum = max(_grid_resolution(name, cells, m.numpy()) for m in surface.minima)
    got = np.sort(tree.persistence[np.isfinite(tree.death) & (tree.persistence > 1.0)])
    want = sorted(
        (e_saddle[s] - e_min[m], _grid_resolution(name, cells, surface.saddles[s].numpy()))
        for s, m in barriers
    )
    for value, (exact, saddle_res) in zip(got, want, strict=True):
        assert abs(value - exact) <= saddle_res + worst_minimum, (value, exact)


def brute_bottleneck(x, y):
    """Every partial matching of the finite points, the rest to the diagonal; essential
    points matched among themselves in every order."""
    ex, ey = np.isinf(x[:, 1]), np.isinf(y[:, 1])
    if ex.sum() != ey.sum():
        return np.inf
    ess = min(
        (max((abs(a - b) for a, b in zip(x[ex, 0], perm, strict=True)), default=0.0))
        for perm in itertools.permutations(y[ey, 0])
    )
    fx, fy = x[~ex], y[~ey]
    best = np.inf

    def walk(i, used, worst):
        nonlocal best
        if worst >= best:
            return
        if i == len(fx):
            rest = [(q[1] - q[0]) / 2 for j, q in enumerate(fy) if j not in used]
            best = min(best, max([worst, *rest]))
            return
        p = fx[i]
        walk(i + 1, used, max(worst, (p[1] - p[0]) / 2))
        for j, q in enumerate(fy):
            if j not in used:
                walk(i + 1, used | {j}, max(worst, abs(p[0] - q[0]), abs(p[1] - q[1])))

    walk(0, frozenset(), 0.0)
    return max(best, ess)


def _diagram(rng, finite, essential):
    b = np.round(rng.uniform(0, 2, finite), 1)
    d = b + np.round(rng.exponential(0.6, finite), 1)
    e = np.stack([np.round(rng.uniform(0, 2, essential), 1), np.full(essential, np.inf)], 1)
    return np.vstack([np.stack([b, d], 1), e])


def test_bottleneck_distance_equals_brute_force_on_small_diagrams():
    rng = np.random.default_rng(0)
    for _ in range(60):
        m, k, e = rng.integers(0, 5), rng.integers(0, 5), rng.integers(0, 3)
        x, y = _diagram(rng, m, e), _diagram(rng, k, e)
        assert bottleneck_distance(x, y) == pytest.approx(brute_bottleneck(x, y), abs=1e-12)
        assert bottleneck_distance(x, y) == bottleneck_distance(y, x)
        assert bottleneck_distance(x, x) == 0.0
    assert bottleneck_distance([[0, 1], [0, np.inf]], [[0, 1]]) == np.inf
    assert bottleneck_distance(np.zeros((0, 2)), [[0.0, 3.0]]) == 1.5
    many = np.tile([[0.0, 1.0]], (9_000, 1))
    with pytest.raises(ValueError, match=r"9000 \+ 9000 finite pairs, more than the 16000"):
        bottleneck_distance(many, many)


def test_bottleneck_distance_equals_gudhi_and_reads_merge_trees():
    import gudhi  # a dev dependency (pyproject.toml)

    rng = np.random.default_rng(1)
    for _ in range(10):
        x, y = _diagram(rng, 40, 1), _diagram(rng, 25, 1)
        assert bottleneck_distance(x, y) == pytest.approx(gudhi.bottleneck_distance(x, y, 0))
    a, _ = wells(2)
    tree_a, tree_b = merge_tree(a), merge_tree(a + 0.1 * np.sin(7 * a))
    assert bottleneck_distance(tree_a, tree_b) == pytest.approx(
        gudhi.bottleneck_distance(tree_a.pairs, tree_b.pairs, 0)
    )
    with pytest.raises(ValueError, match=r"`b` must be \[k, 2\] \(birth, death\) pairs"):
        bottleneck_distance(tree_a, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="`a` must have death ≥ birth"):
        bottleneck_distance([[1.0, 0.0]], tree_b)


def test_summary_dataset_locates_minima_and_saddles():
    values, axes = wells(2)
    grid = xr.DataArray(values, coords={"x": axes[0], "y": axes[1]})
    tree, ds = summary(xr.Dataset({"loss": grid}), threshold=0.5)
    assert ds.attrs["num_basins"] == 4 and ds.attrs["threshold"] == 0.5
    assert ds.attrs["total_persistence"] == pytest.approx(6.5) and ds.attrs["nan_cells"] == 0
    by_birth = {float(b): i for i, b in enumerate(ds.birth.values)}
    shallow = by_birth[0.5]
    assert ds["minimum_x"][shallow] == 2.0 and ds["saddle_x"][shallow] == 1.5
    assert ds["minimum_y"][shallow] == 0.0 and ds["saddle_y"][shallow] == 0.0
    assert np.isnan(ds["saddle_x"][by_birth[-1.0]]) and ds.basin.dims == ("x", "y")
    _, plain = summary(values)  # a bare array: index coordinates, the default threshold
    assert plain["minimum_dim_0"][shallow] == 20 and plain.attrs["threshold"] > 0
    with pytest.raises(ValueError, match="`var` must be one of"):
        summary(xr.Dataset({"loss": grid}), var="test_loss")
    assert (ds.basin.values == tree.basin_labels(0.5)).all()
    assert set(ds.basin_of_pair.values.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_figures_draw_any_dimension_with_holes_and_strict_json(dims):
    import json

    from lossatlas.plot import topology as plot_topology
    from lossatlas.plot import topology_html as plot_topology_html

    values, axes = wells(dims)
    values[(0,) * dims] = np.nan  # a diverged corner
    grid = xr.DataArray(values, coords={f"d{k}": a for k, a in enumerate(axes)})
    tree, ds = summary(grid, threshold=0.5)
    assert ds.attrs["nan_cells"] == 1 and ds.basin.values[(0,) * dims] == -1
    figures = [
        plot_topology.barcode(tree, 0.5),
        plot_topology.persistence_diagram(tree, 0.5),
        plot_topology.merge_tree_plot(tree, 0.5),
        plot_topology.basin_map(ds),
    ]
    assert all(len(f.axes) >= 1 for f in figures)
    layout = plot_topology.tree_layout(tree, 0.5)
    assert len(layout.leaves) == 4 and len(layout.roots) == 1
    # the three joins sit at the saddles' losses 1.5, 2 and 3
    joins = sorted({y0 for (x0, y0), (x1, y1) in layout.segments if y0 == y1})
    assert joins == [1.5, 2.0, 3.0]
    for fig in (
        plot_topology_html.barcode_json(tree, ds, 0.5),
        plot_topology_html.diagram_json(tree, ds, 0.5),
        plot_topology_html.merge_tree_json(tree, ds, 0.5),
        plot_topology_html.basin_map_json(ds),
    ):
        text = json.dumps(fig, allow_nan=False)  # strict JSON: no NaN or ∞
        assert json.loads(text)["data"]
