import numpy as np
import pytest
import torch

from lossatlas.results import inputs


def test_npz_with_a_test_split(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x=rng.normal(size=(10, 3)),
        y=rng.integers(0, 2, 10),
        x_test=rng.normal(size=(4, 3)),
        y_test=rng.integers(0, 2, 4),
    )
    split = inputs.load_data(str(tmp_path / "d.npz"))
    assert split.train[0].dtype == torch.float32 and split.test[0].shape == (4, 3)
    assert split.task == "classification" and split.num_classes == 2
    assert split.info["test_is_train"] is False
    assert inputs.default_loss(split) == "cross_entropy"


def test_regression_pt_without_test_split(tmp_path):
    torch.save((torch.randn(6, 2), torch.randn(6, 1)), tmp_path / "r.pt")
    split = inputs.load_data(str(tmp_path / "r.pt"))
    assert split.task == "regression" and split.info["test_is_train"] is True
    assert inputs.default_loss(split) == "mse"
    model = inputs.load_model("mlp", split)
    assert model(split.train[0]).shape == (6, 1)


def test_bad_specs(tmp_path):
    torch.save({"inputs": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="must hold x and y"):
        inputs.load_data(str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match=r"importable `package\.module:function`"):
        inputs.load_model("no_such_module:build")
    with pytest.raises(TypeError, match=r"must return a torch\.nn\.Module"):
        inputs.load_model("builtins:dict")
