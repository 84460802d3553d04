"""Fig. 4's statistics: pairs without shared endpoints and the Mann–Whitney U test, exactly."""

import itertools

import numpy as np
import pytest

from lossatlas.geometry.solution_sets import mann_whitney
from lossatlas.paths.matrix import draw_pairs, shares_endpoints


def test_pairs_share_no_endpoint_while_the_set_allows():
    rng = np.random.default_rng(0)
    for k, count in [(6, 3), (48, 12), (5, 2), (9, 4)]:
        pairs = draw_pairs(k, count, rng)
        assert len(pairs) == count and not shares_endpoints(pairs)
        assert all(0 <= a < b < k for a, b in pairs)
    pairs = draw_pairs(4, 6, rng)  # every pair of 4: endpoints are shared, pairs distinct
    assert sorted(pairs) == list(itertools.combinations(range(4), 2)) and shares_endpoints(pairs)
    again = [draw_pairs(10, 5, np.random.default_rng(1)) for _ in range(2)]
    assert again[0] == again[1]
    with pytest.raises(ValueError, match="can draw 1 to 6 distinct pairs of 4"):
        draw_pairs(4, 7, rng)


def _exact_two_sided_p(a, b):
    """The exact permutation p-value of U (no ties): every split of the pooled values."""
    pooled = np.concatenate([a, b])
    u = lambda x, y: sum(float(xi > yi) for xi in x for yi in y)  # noqa: E731
    observed = u(a, b)
    centre = len(a) * len(b) / 2
    count = total = 0
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        rest = [i for i in range(len(pooled)) if i not in idx]
        total += 1
        count += abs(u(pooled[list(idx)], pooled[rest]) - centre) >= abs(observed - centre) - 1e-12
    return observed, count / total


def test_mann_whitney_equals_the_exact_permutation_test():
    rng = np.random.default_rng(4)
    for n_a, n_b in [(4, 4), (3, 5), (6, 4)]:
        a, b = rng.normal(size=n_a), rng.normal(0.8, 1.0, size=n_b)
        test = mann_whitney(a, b)
        u, p = _exact_two_sided_p(a, b)
        assert test["U"] == u and test["p"] == pytest.approx(p, rel=1e-9)
        assert (test["n_a"], test["n_b"]) == (n_a, n_b)
    separated = mann_whitney([1, 2, 3, 4], [5, 6, 7, 8])
    assert separated["U"] == 0 and separated["p"] == pytest.approx(2 / 70)
    assert np.isnan(mann_whitney([np.nan], [1.0])["p"])
