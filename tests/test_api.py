"""The public names other issues and users rely on: changing them is a decision, not an accident."""

import lossatlas
from lossatlas import optim, zoo


def test_top_level_names():
    assert sorted(lossatlas.__all__) == [
        "CheckpointMismatch",
        "DeterminismError",
        "Objective",
        "ParamEntry",
        "ParamSpace",
        "__version__",
        "save_checkpoint",
    ]


def test_module_level_api():
    for name in (
        "build",
        "build_for",
        "dataset",
        "landscape",
        "landscape_objective",
        "MODELS",
        "DATASETS",
        "LANDSCAPES",
        "Split",
    ):
        assert hasattr(zoo, name), name
    for name in (
        "LBFGSGSS",
        "minimize",
        "line_search",
        "golden_section",
        "bracket_minimum",
        "train",
        "TrainResult",
        "recompute_batchnorm",
    ):
        assert hasattr(optim, name), name
    from lossatlas import surface
    from lossatlas.surface import directions

    for name in (
        "line",
        "plane",
        "random_plane",
        "solutions",
        "triangle",
        "quad",
        "pca_plane",
        "scaling",
        "load",
    ):
        assert callable(getattr(surface, name)), name
    for name in (
        "random_direction",
        "random_plane",
        "normalise",
        "through_two",
        "through_three",
        "pca_directions",
    ):
        assert callable(getattr(directions, name)), name
    obj_methods = (
        "point",
        "load_point",
        "value",
        "metrics",
        "values",
        "grad",
        "value_and_grad",
        "hvp",
        "hvps",
    )
    assert all(callable(getattr(lossatlas.Objective, m)) for m in obj_methods)
    assert set(zoo.MODELS) >= {
        "fcp",
        "lenet",
        "lstm",
        "autoencoder",
        "mlp",
        "xor",
        "resnet20",
        "resnet56",
        "resnet110",
        "wide_resnet",
    }
    assert set(zoo.DATASETS) >= {
        "digits",
        "xor",
        "student-teacher",
        "mnist",
        "fashion-mnist",
        "cifar10",
    }


def test_subpackages_are_lazy_attributes():
    """`la.curvature`, `la.zoo`, `la.surface` work without importing them, and load on first use."""
    import subprocess
    import sys

    code = (
        "import sys, lossatlas as la\n"
        "assert 'lossatlas.curvature' not in sys.modules, 'imported eagerly'\n"
        "assert callable(la.curvature.top_eigenvalues)\n"
        "assert callable(la.zoo.dataset) and callable(la.surface.plane)\n"
        "assert callable(la.directions.random_direction)\n"
        "assert 'curvature' in dir(la)\n"
        "try:\n    la.no_such_thing\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no attribute 'no_such_thing'" in out.stdout


def test_objective_follows_the_models_dtype():
    """A float64 model gives float64 values and HVPs exact to float64 precision by default."""
    import torch
    from torch import nn

    from lossatlas import Objective
    from lossatlas.core import reference

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    obj = Objective(model, (x, y))
    theta = obj.point()
    v = torch.randn(obj.size, dtype=torch.float64)
    hv = obj.hvp(theta, v)
    assert obj.dtype == theta.dtype == obj.value(theta).dtype == hv.dtype == torch.float64
    exact = reference.hessian(obj, theta) @ v
    assert float((hv - exact).norm() / exact.norm()) < 1e-12
    assert Objective(model.float(), (x, y)).dtype == torch.float32
    assert Objective(model.float(), (x, y), dtype=torch.float64).dtype == torch.float64


def test_curvature_functions_take_obj_by_keyword():
    """The Hessian functions' first parameter is `obj`, as the README calls it."""
    import torch
    from torch import nn

    from lossatlas import Objective, curvature

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    obj = Objective(model, (torch.randn(16, 3), torch.randint(0, 2, (16,))))
    theta = obj.point()
    lam = curvature.top_eigenvalues(obj=obj, theta=theta, k=1).eigenvalues[0]
    assert float(lam) > 0
    assert curvature.trace(obj=obj, theta=theta, samples=99).estimate > 0
    assert curvature.bottom_eigenvalues(obj=obj, theta=theta).eigenvalues.numel() == 1
    assert curvature.outlier_ratio(obj=obj, theta=theta, k=2) >= 1
    assert curvature.density(obj=obj, theta=theta, draws=2, steps=5, progress=False).size > 0
