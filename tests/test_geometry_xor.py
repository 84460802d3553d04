"""XOR has no local minima (Hamey 1998): stationary points and non-ascending certificates."""

import pytest
import torch

from lossatlas import zoo
from lossatlas.geometry import (
    descent_certificate,
    find_stationary_point,
    verify_non_ascending,
    xor_analysis,
)


@pytest.fixture(scope="module")
def analysis():
    return xor_analysis(starts=6, seed=0, target=0.05)


def test_xor_stationary_points_are_finite_non_global_and_none_is_a_regional_minimum(analysis):
    finite = analysis.finite
    assert len(finite) >= 4
    for i in finite:
        p, cert = analysis.points[i], analysis.certificates[i]
        assert p.grad_norm <= 1e-10 and p.norm <= 50
        assert p.loss > 0.2  # SSE ≥ 0.8: nowhere near the infimum 0 (reached only at infinity)
        assert analysis.rows[i]["type"] != "strict local minimum"
        # Hamey's theorem, checked: a non-ascending path to much lower loss from each one
        assert cert is not None and cert.found, cert.reason
        assert cert.end_loss < cert.start_loss - 0.1
        assert cert.max_rise <= cert.tol
        assert torch.equal(cert.vertices[0], p.theta)
    assert analysis.regional_minima == []
    # most descend all the way; a few crawl along the asymptotic plateau at SSE = 0.5
    reached = [analysis.certificates[i].end_loss < 0.05 for i in finite]
    assert sum(reached) >= len(finite) // 2


def test_certificates_survive_a_denser_independent_check(analysis):
    for i in analysis.finite:
        cert = analysis.certificates[i]
        assert verify_non_ascending(_xor(), cert.vertices, samples=64) <= cert.tol
        assert (cert.loss[1:] - cert.loss[:-1]).max() <= cert.tol
        assert len(cert.arc) == len(cert.loss)
        assert (cert.arc[1:] >= cert.arc[:-1]).all()


def test_the_origin_is_a_degenerate_stationary_point_and_is_still_escaped(analysis):
    row = analysis.rows[0]  # start 0 is θ = 0
    assert analysis.points[0].norm == 0.0 and analysis.points[0].grad_norm == 0.0
    assert row["loss"] == pytest.approx(0.25)  # every output is σ(0) = ½: SSE = 1
    assert row["negative"] == 0 and row["zero"] > 0  # the Hessian alone cannot decide
    assert row["certified"]


def _xor():
    from lossatlas.geometry import xor_objective

    return xor_objective()


def test_certificates_fail_at_true_local_minima_and_succeed_at_saddles():
    obj = zoo.landscape_objective("muller-brown")
    land = obj.model
    deepest = float(obj.value(land.minima[0]))
    for minimum in land.minima:  # two of them are local, not global: no path leaves any
        cert = descent_certificate(obj, minimum.clone(), max_segments=20)
        assert not cert.found and "rises" in cert.reason
    for saddle in land.saddles:
        cert = descent_certificate(obj, saddle.clone(), max_segments=100)
        assert cert.found and cert.kinds[0] in ("gradient", "negative-curvature")
        ends = [float(obj.value(m)) for m in land.minima]
        assert min(abs(cert.end_loss - e) for e in ends) < 1e-6  # it slid into a minimum
        assert cert.end_loss >= deepest - 1e-9


def test_stationary_point_search_converges_to_a_known_saddle():
    obj = zoo.landscape_objective("muller-brown")
    saddle = obj.model.saddles[1]
    p = find_stationary_point(obj, saddle + torch.tensor([0.02, -0.01], dtype=torch.float64))
    assert p.status == "stationary"
    assert torch.allclose(p.theta, saddle, atol=1e-9)
    assert (p.inertia.negative, p.inertia.positive) == (1, 1)


def test_runs_leaving_the_ball_are_marked_diverged_and_bad_settings_refused():
    obj = _xor()
    far = torch.full((9,), 30.0, dtype=torch.float64)
    assert find_stationary_point(obj, far, bound=10.0).status == "diverged"
    with pytest.raises(ValueError, match="`starts` must be a positive integer"):
        xor_analysis(starts=0)
    with pytest.raises(ValueError, match="`samples` must be at least 2"):
        descent_certificate(obj, torch.zeros(9, dtype=torch.float64), samples=1)
