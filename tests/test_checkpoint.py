import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from lossatlas import CheckpointMismatch, Objective, save_checkpoint


def _net(hidden=5, bn=True):
    layers = (
        [nn.Linear(4, hidden)]
        + ([nn.BatchNorm1d(hidden)] if bn else [])
        + [nn.Tanh(), nn.Linear(hidden, 3)]
    )
    return nn.Sequential(*layers)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(9, 4, generator=g), torch.randint(0, 3, (9,), generator=g)


def test_roundtrip_through_a_file_with_settings(tmp_path, data):
    torch.manual_seed(0)
    trained = _net()
    trained.eval()
    trained[1].running_mean.fill_(0.3)
    path = save_checkpoint(tmp_path / "run" / "final.pt", trained, {"optimizer": "sgd", "lr": 0.1})
    assert json.loads(path.with_suffix(".json").read_text()) == {"lr": 0.1, "optimizer": "sgd"}
    assert not list(tmp_path.glob("**/*.tmp"))
    torch.manual_seed(1)
    obj = Objective(_net(), data)
    theta = obj.load_point(path)
    assert torch.equal(theta, torch.cat([p.detach().reshape(-1) for p in trained.parameters()]))
    # the checkpoint's BatchNorm statistics came with it, so the loss is the trained net's
    with torch.no_grad():
        expected = nn.functional.cross_entropy(trained(data[0]), data[1])
    assert torch.allclose(obj.value(theta), expected, rtol=1e-6)


def test_a_batchnorm_checkpoint_loads_into_an_objective_on_batch_statistics(tmp_path, data):
    torch.manual_seed(0)
    trained = _net()
    with torch.no_grad():
        trained(data[0])  # train mode: the running statistics move away from their start
    path = save_checkpoint(tmp_path / "final.pt", trained)
    assert "1.running_mean" in torch.load(path, weights_only=True)
    torch.manual_seed(1)
    obj = Objective(_net(), data, mode="train")
    theta = obj.load_point(path)  # the running statistics are accepted, and not used
    assert torch.equal(theta, torch.cat([p.detach().reshape(-1) for p in trained.parameters()]))
    with torch.no_grad():  # normalised by the batch's own statistics, as in training
        expected = nn.functional.cross_entropy(copy.deepcopy(trained).train()(data[0]), data[1])
    assert torch.allclose(obj.value(theta), expected, rtol=1e-6)
    assert obj.load_point(trained.state_dict(), buffers=False).equal(theta)
    stray = {**trained.state_dict(), "1.running_max": torch.zeros(5)}
    with pytest.raises(CheckpointMismatch, match=r"unexpected \(1\): 1.running_max"):
        obj.load_point(stray)


def test_other_sources(data):
    model = _net(bn=False)
    obj = Objective(model, data)
    flat = obj.point()
    assert torch.equal(obj.load_point(model), flat)
    assert torch.equal(
        obj.load_point({"module." + k: v for k, v in model.state_dict().items()}), flat
    )
    assert torch.equal(obj.load_point(flat.double()), flat)


def test_npy_flat_vector(tmp_path, data):
    obj = Objective(_net(bn=False), data)
    np.save(tmp_path / "sol.npy", obj.point().numpy())
    assert torch.equal(obj.load_point(tmp_path / "sol.npy"), obj.point())
    np.save(tmp_path / "bad.npy", np.zeros(7, dtype=np.float32))
    with pytest.raises(ValueError, match="must have 43 elements"):
        obj.load_point(tmp_path / "bad.npy")


def test_checkpoint_of_another_model_lists_every_difference(tmp_path, data):
    other = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3), nn.Linear(3, 3)
    )
    path = save_checkpoint(tmp_path / "other.pt", other)
    obj = Objective(_net(), data)
    with pytest.raises(CheckpointMismatch) as err:
        obj.load_point(path)
    msg = str(err.value)
    assert "unexpected (2): 4.weight, 4.bias" in msg
    assert "mis-shaped: 0.weight is (6, 4) in the checkpoint, (5, 4) in the model" in msg
    assert "mis-shaped: 3.weight is (3, 6) in the checkpoint, (3, 5) in the model" in msg
    assert err.value.misshaped["1.weight"] == ((5,), (6,))
    partial = {k: v for k, v in _net().state_dict().items() if k != "3.bias"}
    with pytest.raises(CheckpointMismatch, match=r"missing \(1\): 3.bias"):
        obj.load_point(partial)


def test_missing_file_and_wrong_type(tmp_path, data):
    obj = Objective(_net(), data)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        obj.load_point(tmp_path / "nope.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(TypeError, match="must hold a state_dict or a flat tensor"):
        obj.load_point(tmp_path / "list.pt")
