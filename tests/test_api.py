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
    from lossatlas import directions, surface

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
