"""Defects a careful user found (issue 18), each pinned by a test that failed before its fix."""

import torch

from lossatlas import Objective, save_checkpoint, surface, zoo


def _bn_mlp(split, seed):
    return zoo.build_for("mlp", split, widths=(64, 16, 10), batchnorm=True, seed=seed)


def test_test_objective_carries_the_checkpoints_batchnorm_statistics(tmp_path):
    """with_data (the test set of surfaces and paths) keeps the buffers load_point took."""
    split = zoo.dataset("digits")
    trained = _bn_mlp(split, seed=0)
    trained.train()
    with torch.no_grad():  # running statistics far from a fresh module's (0 and 1)
        for _ in range(5):
            trained(split.train[0] * 3.0 + 1.0)
    trained.eval()
    save_checkpoint(tmp_path / "bn.pt", trained)
    expected = Objective(trained, split.test).value(Objective(trained, split.test).point())

    obj = Objective(_bn_mlp(split, seed=1), split.train)  # another module, its own statistics
    theta = obj.load_point(tmp_path / "bn.pt")
    assert torch.allclose(obj.with_data(split.test).value(theta), expected, rtol=1e-6)
    plane = surface.random_plane(obj, theta, grid=3, test=split.test, progress=False)
    assert abs(float(plane.test_loss.sel(alpha=0.0, beta=0.0)) - float(expected)) < 1e-5
